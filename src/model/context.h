// Running a model on one sequence: its own KV blocks and a BatchForward of one sequence.
// eval() appends tokens at the next positions: many tokens go through the layers together
// (prefill, matrix x matrix, in chunks of n_batch), one token is a decode step. The serving
// engine runs many sequences over a shared block pool instead (engine/).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/buffer.h"
#include "core/dtype.h"
#include "core/thread_pool.h"
#include "model/batch_forward.h"
#include "model/kv_layout.h"
#include "model/model.h"

namespace tandem::model {

struct ContextParams {
  int64_t n_ctx = 0;        // positions; 0 = the model's training context, at most 4096
  int64_t n_batch = 512;    // tokens per forward pass in prefill
  DType kv_type = DType::F16;
  ThreadPool* pool = nullptr;  // null: ThreadPool::global()
};

// Positions per KV block everywhere (the engine's pool uses the same size).
inline constexpr int64_t kKvBlockTokens = 32;

// A context size as given (-c): 0 is the model's training context, at most 4096; InputError
// when negative.
int64_t resolve_n_ctx(const Model& model, int64_t n_ctx);

class Context {
 public:
  Context(const Model& model, const ContextParams& params);
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Runs tokens at positions [n_past, n_past + n) and returns logits: [n_vocab] for the last
  // token, or [n][n_vocab] for every token when all_logits. The span stays valid until the next
  // call. InputError when the tokens do not fit the context or an id is outside the vocabulary.
  std::span<const float> eval(std::span<const TokenId> tokens, bool all_logits = false);

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }
  const Model& model() const { return *model_; }
  // Forgets positions from n on (n <= n_past): the next eval continues at position n.
  void truncate(int64_t n);
  void reset() { truncate(0); }
  size_t kv_bytes() const { return kv_.size(); }

 private:
  const Model* model_;
  int64_t n_ctx_, n_batch_;
  int64_t n_past_ = 0;
  KvLayout layout_;
  AlignedBuffer kv_;                // [n_blocks][block_bytes]
  std::vector<std::byte*> blocks_;  // [n_blocks] into kv_
  BatchForward forward_;
  std::vector<float> logits_;       // [n_out][n_vocab]
};

}  // namespace tandem::model
