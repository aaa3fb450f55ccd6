// Server metrics in the Prometheus text format (GET /metrics): requests by endpoint and status,
// prompt and generated tokens, time-to-first-token and time-per-output-token histograms, and
// the engine's queue, running sequences and KV blocks.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "engine/engine.h"

namespace tandem::server {

class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                                     0.5,   1.0,  2.5,   5.0,  10.0,  30.0, 60.0};
  void observe(double v);
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::array<uint64_t, kBounds.size() + 1> counts_{};  // last: +Inf
  double sum_ = 0;
  uint64_t n_ = 0;
};

class Metrics {
 public:
  void request(const std::string& endpoint, int status);
  // A finished generation: tokens and timings from the engine's usage.
  void generation(const engine::Usage& u);
  std::string render(const engine::EngineStats* engine) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0, generated_tokens_ = 0;
  Histogram ttft_, tpot_, e2e_;
};

}  // namespace tandem::server
