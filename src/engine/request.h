// A request to the serving engine and the stream its results come back on. The engine thread
// pushes events; the caller (an HTTP handler) waits on them, and may cancel at any time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/generate.h"
#include "engine/sampler.h"
#include "model/tokenizer.h"

namespace tandem::engine {

class TokenConstraint;

struct RequestOptions {
  std::vector<model::TokenId> prompt;
  SamplingParams sampling;
  int64_t max_tokens = -1;  // < 0: until end of generation or the context is full
  std::vector<std::string> stop;
  int top_logprobs = -1;    // < 0: no log-probabilities; 0..20: the chosen token's and the top n
  bool ignore_eos = false;
  // Null, or a filter every sampled token must pass (JSON mode); owned by the request.
  std::shared_ptr<TokenConstraint> constraint;
};

struct TokenLogprob {
  model::TokenId id;
  float logprob;
};

// One generated token (text may be empty while UTF-8 or a possible stop string is held back),
// or the end of the request.
struct Event {
  std::string text;
  model::TokenId token = -1;  // -1: no token (final event, or text released at the end)
  float logprob = 0;
  std::vector<TokenLogprob> top;  // when top_logprobs > 0
  bool final = false;
  StopReason reason = StopReason::EndOfGeneration;  // final only
  std::string error;                                // final only: non-empty on failure
  bool unavailable = false;  // final only: the server cannot serve it now (its group failed): 503
};

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0;
  int64_t cached_tokens = 0;  // prompt tokens whose KV came from the prefix cache
  double ttft_s = 0, total_s = 0;  // from submission
};

class RequestStream {
 public:
  // Consumer: the next event, waiting at most `timeout`; false on timeout.
  bool next(Event& e, std::chrono::milliseconds timeout);
  // Asks the engine to stop this request; it frees the request's blocks at the next step and
  // then pushes a final Cancelled event.
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }
  Usage usage() const;

  // Producer (engine thread). Events after the final one are dropped.
  void push(Event e);
  // Ends the request from outside the engine thread: a final event with this error, marked
  // unavailable. Nothing if it has ended already.
  void fail_unavailable(const std::string& error);
  bool ended() const;
  void set_usage(const Usage& u);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  Usage usage_;
  bool ended_ = false;  // the final event was pushed
  std::atomic<bool> cancelled_{false};
};

}  // namespace tandem::engine
