// The single-sequence generation loop used by `tandem run` and `tandem chat`: evaluate the
// prompt (prefill), then sample, stream text, and stop at end of generation, a stop string,
// the token limit or a full context.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampler.h"
#include "model/context.h"

namespace tandem::engine {

enum class StopReason { EndOfGeneration, MaxTokens, StopString, ContextFull, Cancelled };
std::string_view stop_reason_name(StopReason r);

struct GenerateOptions {
  int64_t max_tokens = -1;  // < 0: until end of generation or a full context
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool render_special = false;  // print control tokens' text
};

struct GenerateStats {
  int64_t n_prompt = 0, n_gen = 0;
  double prompt_s = 0, gen_s = 0;
  StopReason reason = StopReason::EndOfGeneration;
  std::vector<model::TokenId> tokens;  // generated, including a final end-of-generation token
};

// Appends `prompt` to ctx (which may already hold earlier turns), then generates. on_text gets
// complete UTF-8 text as it becomes safe to show; returning false cancels.
GenerateStats generate(model::Context& ctx, Sampler& sampler, std::span<const model::TokenId> prompt,
                       const GenerateOptions& opts,
                       const std::function<bool(std::string_view)>& on_text);

}  // namespace tandem::engine
