#include "engine/generate.h"

#include <chrono>

#include "core/error.h"

namespace tandem::engine {

std::string_view stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::EndOfGeneration: return "end of generation";
    case StopReason::MaxTokens: return "token limit";
    case StopReason::StopString: return "stop string";
    case StopReason::ContextFull: return "context full";
    case StopReason::Cancelled: return "cancelled";
  }
  return "?";
}

GenerateStats generate(model::Context& ctx, Sampler& sampler, std::span<const model::TokenId> prompt,
                       const GenerateOptions& opts,
                       const std::function<bool(std::string_view)>& on_text) {
  using clock = std::chrono::steady_clock;
  const model::Tokenizer& tok = ctx.model().tokenizer();
  GenerateStats st;
  st.n_prompt = static_cast<int64_t>(prompt.size());
  if (prompt.empty()) throw_input("the prompt is empty: nothing to continue from");
  if (ctx.n_past() + st.n_prompt > ctx.n_ctx())
    throw_input("the prompt has {} tokens but the context holds {} (of {} in use); raise -c",
                st.n_prompt, ctx.n_ctx() - ctx.n_past(), ctx.n_past());
  for (model::TokenId t : prompt) sampler.accept(t);

  const auto t0 = clock::now();
  std::span<const float> logits = ctx.eval(prompt);
  st.prompt_s = std::chrono::duration<double>(clock::now() - t0).count();

  StopMatcher stops(opts.stop);
  model::StreamDecoder decoder(tok, opts.render_special);
  auto emit = [&](const std::string& text) {
    if (text.empty()) return true;
    return on_text(text);
  };
  const auto t1 = clock::now();
  for (;;) {
    if (opts.max_tokens >= 0 && st.n_gen >= opts.max_tokens) {
      st.reason = StopReason::MaxTokens;
      break;
    }
    const model::TokenId id = sampler.sample(logits);
    sampler.accept(id);
    st.tokens.push_back(id);
    ++st.n_gen;
    if (!opts.ignore_eos && tok.is_eog(id)) {
      st.reason = StopReason::EndOfGeneration;
      break;
    }
    if (!emit(stops.push(decoder.push(id)))) {
      st.reason = StopReason::Cancelled;
      break;
    }
    if (stops.stopped()) {
      st.reason = StopReason::StopString;
      break;
    }
    if (ctx.n_past() >= ctx.n_ctx()) {
      st.reason = StopReason::ContextFull;
      break;
    }
    const model::TokenId one[1] = {id};
    logits = ctx.eval(one);
  }
  if (st.reason != StopReason::StopString && st.reason != StopReason::Cancelled) {
    emit(stops.push(decoder.flush()));
    if (!stops.stopped()) emit(stops.flush());
  }
  st.gen_s = std::chrono::duration<double>(clock::now() - t1).count();
  return st;
}

}  // namespace tandem::engine
