// tandem perplexity -m FILE -f TEXT_FILE [-c CTX]: perplexity computed the way llama.cpp's
// perplexity tool does, so numbers compare across tools and quantizations:
//   the text is tokenized once (with BOS when the model adds one) and cut into
//   non-overlapping windows of CTX tokens; each window is evaluated on its own (first token
//   replaced by BOS when the model adds one) and only the second half is scored: the logits at
//   positions [CTX/2, CTX-1) predict the next token. PPL = exp(mean negative log-likelihood).
// stdout: the running estimate per window, then "PPL = <value>" as the last line.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"

namespace tandem::cli {
namespace {

struct PerplexityOptions {
  ModelOptions model;
  std::string text_file;
  int64_t max_chunks = -1;
};

// -log softmax(logits)[target], in double.
double nll(const float* logits, int64_t n_vocab, int32_t target) {
  float mx = logits[0];
  for (int64_t i = 1; i < n_vocab; ++i) mx = std::max(mx, logits[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - mx));
  return -(static_cast<double>(logits[target] - mx) - std::log(sum));
}

void perplexity(const PerplexityOptions& o) {
  const std::string text = read_text_file(o.text_file, "the text file");
  auto model = load_model(o.model);
  const auto& tok = model->tokenizer();
  const int64_t n_ctx = o.model.n_ctx;
  const auto tokens = tok.encode(text, /*add_special=*/true, /*parse_special=*/false);
  const auto n_tokens = static_cast<int64_t>(tokens.size());
  if (n_tokens < 2 * n_ctx)
    throw_input("{}: {} tokens; perplexity with a context of {} needs at least {} (2 x -c)",
                o.text_file, n_tokens, n_ctx, 2 * n_ctx);
  int64_t n_chunk = n_tokens / n_ctx;
  if (o.max_chunks > 0) n_chunk = std::min(n_chunk, o.max_chunks);
  fmt::print(stderr, "tandem: perplexity over {} windows of {} tokens ({} tokens in the text)\n",
             n_chunk, n_ctx, n_tokens);

  model::ContextParams cp = context_params(o.model);
  cp.n_ctx = n_ctx;
  model::Context ctx(*model, cp);
  const int64_t n_vocab = model->hparams().n_vocab;
  const int64_t first = n_ctx / 2;
  double sum_nll = 0.0, sum_nll2 = 0.0;
  int64_t count = 0;
  std::vector<model::TokenId> window(static_cast<size_t>(n_ctx));
  for (int64_t c = 0; c < n_chunk; ++c) {
    const int64_t start = c * n_ctx;
    std::copy(tokens.begin() + start, tokens.begin() + start + n_ctx, window.begin());
    if (tok.add_bos() && tok.bos() >= 0) window[0] = tok.bos();
    ctx.reset();
    const auto logits = ctx.eval(window, /*all_logits=*/true);
    for (int64_t j = first; j < n_ctx - 1; ++j) {
      const double v = nll(logits.data() + j * n_vocab, n_vocab, tokens[static_cast<size_t>(start + j + 1)]);
      sum_nll += v;
      sum_nll2 += v * v;
      ++count;
    }
    fmt::print("[{}]{:.4f}{}", c + 1, std::exp(sum_nll / static_cast<double>(count)),
               c + 1 < n_chunk ? "," : "\n");
    std::fflush(stdout);
  }
  const double mean = sum_nll / static_cast<double>(count);
  const double var = sum_nll2 / static_cast<double>(count) - mean * mean;
  const double ppl = std::exp(mean);
  // As llama.cpp: the uncertainty of the mean NLL carried through exp.
  const double err = count > 1 ? ppl * std::sqrt(std::max(var, 0.0) / static_cast<double>(count - 1)) : 0.0;
  fmt::print("Final estimate: PPL = {:.4f} +/- {:.5f} ({} tokens scored)\n", ppl, err, count);
  fmt::print("PPL = {:.4f}\n", ppl);
}

}  // namespace

void add_perplexity(CLI::App& app) {
  auto o = std::make_shared<PerplexityOptions>();
  auto* cmd = app.add_subcommand("perplexity", "perplexity of a text, computed as llama.cpp's tool does");
  add_model_options(cmd, o->model, /*default_ctx=*/512);
  cmd->add_option("-f,--file", o->text_file, "text file to score")->required();
  cmd->add_option("--chunks", o->max_chunks, "score at most this many windows (-1 = all)")->capture_default_str();
  cmd->callback([o] {
    if (o->model.n_ctx < 4) throw_input("perplexity: -c must be at least 4 (got {})", o->model.n_ctx);
    perplexity(*o);
  });
}

}  // namespace tandem::cli
