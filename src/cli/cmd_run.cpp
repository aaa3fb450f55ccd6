// tandem run -m FILE -p TEXT: continue a prompt. Only the generated text goes to stdout (as it
// is produced); one timing line goes to stderr.
#include <fmt/format.h>

#include <cstdio>
#include <random>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"

namespace tandem::cli {
namespace {

struct RunOptions {
  ModelOptions model;
  engine::SamplingParams sampling;
  engine::GenerateOptions gen;
  std::string prompt, prompt_file;
  bool no_parse_special = false;
  bool show_prompt = false;
};

void print_timing(const engine::GenerateStats& st) {
  auto rate = [](int64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; };
  fmt::print(stderr,
             "tandem: prompt {} tokens in {:.2f} s ({:.1f} tokens/s), generated {} tokens in "
             "{:.2f} s ({:.1f} tokens/s), stopped: {}\n",
             st.n_prompt, st.prompt_s, rate(st.n_prompt, st.prompt_s), st.n_gen, st.gen_s,
             rate(st.n_gen, st.gen_s), engine::stop_reason_name(st.reason));
}

void run(const RunOptions& o) {
  std::string prompt = o.prompt;
  if (!o.prompt_file.empty()) prompt = read_text_file(o.prompt_file, "the prompt file");
  auto model = load_model(o.model);
  const auto& tok = model->tokenizer();
  const auto ids = tok.encode(prompt, /*add_special=*/true, /*parse_special=*/!o.no_parse_special);
  if (ids.empty()) throw_input("the prompt is empty and the model adds no BOS token: nothing to continue");
  model::Context ctx(*model, context_params(o.model));
  engine::SamplingParams sp = o.sampling;
  if (Collective* group = model->world()) {  // every rank draws the same tokens
    if (sp.seed == engine::SamplingParams::kRandomSeed) sp.seed = std::random_device{}();
    group->broadcast(&sp.seed, sizeof(sp.seed), 0);
  }
  engine::Sampler sampler(sp, tok.n_vocab());
  if (o.show_prompt) {
    std::fputs(prompt.c_str(), stdout);
    std::fflush(stdout);
  }
  const auto st = engine::generate(ctx, sampler, ids, o.gen, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  print_timing(st);
}

}  // namespace

void add_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "continue a prompt and print the generated text");
  add_model_options(cmd, o->model);
  auto* p = cmd->add_option("-p,--prompt", o->prompt, "prompt text (special-token text is parsed)");
  auto* f = cmd->add_option("-f,--file", o->prompt_file, "read the prompt from a file");
  p->excludes(f);
  cmd->add_flag("--no-parse-special", o->no_parse_special, "treat special-token text in the prompt as plain text");
  cmd->add_flag("--show-prompt", o->show_prompt, "print the prompt before the generated text");
  add_sampling_options(cmd, o->sampling);
  add_generate_options(cmd, o->gen);
  cmd->callback([o] {
    if (o->prompt.empty() && o->prompt_file.empty()) throw_input("run: give a prompt with -p TEXT or -f FILE");
    run(*o);
  });
}

}  // namespace tandem::cli
