// Token sampling with llama.cpp's chain order and defaults:
//   penalties (repetition over the last repeat_last_n tokens, frequency, presence)
//   -> top-k -> top-p -> min-p -> temperature -> seeded draw.
// temperature <= 0 is greedy (argmax after penalties). The same seed gives the same tokens.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace tandem::engine {

struct SamplingParams {
  float temperature = 0.8f;
  int32_t top_k = 40;  // <= 0: off
  float top_p = 0.95f;  // >= 1: off
  float min_p = 0.05f;  // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int32_t repeat_last_n = 64;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0xFFFFFFFFu;  // kRandomSeed: pick one from the clock
  static constexpr uint64_t kRandomSeed = 0xFFFFFFFFu;
};

class Sampler {
 public:
  Sampler(const SamplingParams& params, int32_t n_vocab);

  // logits: [n_vocab]. Does not record the token; call accept() with what was chosen.
  int32_t sample(std::span<const float> logits);
  void accept(int32_t token);  // into the penalty history
  void reset();
  uint64_t seed() const { return seed_; }

 private:
  SamplingParams p_;
  int32_t n_vocab_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::deque<int32_t> history_;
  struct Candidate {
    int32_t id;
    float logit;
  };
  // The candidates' order: higher logit first, the lower id on ties (a function object, so the
  // sorts and heaps inline it).
  static constexpr auto better = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  bool top_k_of(std::span<const float> logits, size_t k);
  int32_t draw();

  std::vector<Candidate> cand_;  // scratch, reused
  std::vector<float> probs_;
};

// Stop strings over streamed text: push() returns the text that is safe to emit now (text that
// could still be the start of a stop string is held back); stopped() once one is seen, after
// which the stop string and everything after it are dropped.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  std::string push(std::string_view text);
  std::string flush();  // held text when generation ends for another reason
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace tandem::engine
