// tandem tokenize -m FILE (-p TEXT | -f FILE): the token ids of a text, space-separated on one
// line. BOS/EOS are added as the model's metadata says (--no-bos: never); special-token text is
// parsed into those tokens unless --no-parse-special. Only the tokenizer is read, not weights.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "gguf/file.h"
#include "model/tokenizer.h"

namespace tandem::cli {
namespace {

struct TokenizeOptions {
  std::string model, prompt, file;
  bool no_parse_special = false, no_bos = false, show_pieces = false;
};

void tokenize(const TokenizeOptions& o) {
  const std::string text = o.file.empty() ? o.prompt : read_text_file(o.file, "the text file");
  const gguf::File f = gguf::File::open(o.model);
  const model::Tokenizer tok = model::Tokenizer::from_gguf(f);
  std::vector<model::TokenId> ids = tok.encode(text, !o.no_bos, !o.no_parse_special);
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
    if (o.show_pieces) line += fmt::format("/'{}'", tok.piece(ids[i], true));
  }
  fmt::print("{}\n", line);
}

}  // namespace

void add_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand("tokenize", "print the token ids of a text");
  cmd->add_option("-m,--model", o->model, "GGUF model file (only its tokenizer is read)")->required();
  auto* p = cmd->add_option("-p,--prompt", o->prompt, "text to tokenize");
  auto* f = cmd->add_option("-f,--file", o->file, "read the text from a file");
  p->excludes(f);
  cmd->add_flag("--no-parse-special", o->no_parse_special, "treat special-token text as plain text");
  cmd->add_flag("--no-bos", o->no_bos, "do not add BOS/EOS even when the model's metadata says so");
  cmd->add_flag("--pieces", o->show_pieces, "print each id as id/'piece'");
  cmd->callback([o] {
    if (o->prompt.empty() && o->file.empty()) throw_input("tokenize: give the text with -p TEXT or -f FILE");
    tokenize(*o);
  });
}

}  // namespace tandem::cli
