// tandem chat -m FILE: an interactive chat. Each turn renders the whole conversation with the
// model's chat template, keeps the KV cache for the part of the rendered tokens that did not
// change, evaluates only the rest, and streams the reply. An empty line is ignored; Ctrl-D (end
// of input) or /exit ends the chat; /reset forgets the conversation.
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/log.h"

namespace tandem::cli {
namespace {

struct ChatOptions {
  ModelOptions model;
  engine::SamplingParams sampling;
  engine::GenerateOptions gen;
  std::string system;
};

void chat(const ChatOptions& o) {
  auto model = load_model(o.model);
  if (model->world() != nullptr)
    throw_input("chat runs in one process (--tp and --pp work with run, bench, perplexity and serve)");
  const auto& tok = model->tokenizer();
  const model::ChatTemplate* tmpl = &model->chat_template();
  if (!model->has_own_chat_template()) fmt::print(stderr, "tandem: the model has no chat template; using ChatML\n");
  model::Context ctx(*model, context_params(o.model));
  engine::Sampler sampler(o.sampling, tok.n_vocab());
  std::vector<model::ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  std::vector<model::TokenId> in_ctx;  // the tokens the KV cache holds, in order
  const bool tty = isatty(STDIN_FILENO) != 0;
  if (tty) fmt::print(stderr, "tandem chat: type a message; Ctrl-D or /exit ends, /reset starts over.\n");

  std::string line;
  for (;;) {
    if (tty) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;  // Ctrl-D / end of input
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      messages.resize(o.system.empty() ? 0 : 1);
      continue;
    }
    messages.push_back({"user", line});
    const std::string text = tmpl->render(messages, /*add_generation_prompt=*/true);
    // BOS only when the template did not already write it.
    const bool has_bos = tok.bos() >= 0 && text.starts_with(tok.token_text(tok.bos()));
    std::vector<model::TokenId> ids = tok.encode(text, /*add_special=*/!has_bos, /*parse_special=*/true);
    size_t keep = 0;
    while (keep < in_ctx.size() && keep < ids.size() && in_ctx[keep] == ids[keep]) ++keep;
    if (keep == ids.size()) --keep;  // at least one token must be evaluated to get logits
    if (static_cast<int64_t>(ids.size()) >= ctx.n_ctx()) {
      fmt::print(stderr, "tandem: the conversation ({} tokens) no longer fits the context of {}; "
                 "/reset or raise -c\n", ids.size(), ctx.n_ctx());
      messages.pop_back();
      continue;
    }
    ctx.truncate(static_cast<int64_t>(keep));
    sampler.reset();
    std::string reply;
    const std::span<const model::TokenId> delta(ids.data() + keep, ids.size() - keep);
    const auto st = engine::generate(ctx, sampler, delta, o.gen, [&](std::string_view piece) {
      reply += piece;
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::fputc('\n', stdout);
    std::fflush(stdout);
    in_ctx.assign(ids.begin(), ids.end());
    // The generated tokens that were evaluated (the last sampled one never was).
    const size_t evaluated = static_cast<size_t>(ctx.n_past()) - in_ctx.size();
    in_ctx.insert(in_ctx.end(), st.tokens.begin(), st.tokens.begin() + static_cast<std::ptrdiff_t>(evaluated));
    messages.push_back({"assistant", reply});
    TANDEM_LOG_INFO("turn: {} new prompt tokens, {} generated, {}", delta.size(), st.n_gen,
                    engine::stop_reason_name(st.reason));
  }
  if (tty) std::fputc('\n', stdout);
}

}  // namespace

void add_chat(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  auto* cmd = app.add_subcommand("chat", "interactive chat using the model's chat template");
  add_model_options(cmd, o->model);
  cmd->add_option("--system", o->system, "system message at the start of the conversation");
  add_sampling_options(cmd, o->sampling);
  add_generate_options(cmd, o->gen);
  cmd->callback([o] { chat(*o); });
}

}  // namespace tandem::cli
