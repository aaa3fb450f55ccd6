// Running a model: one sequence, its KV cache and the scratch buffers of the forward pass.
// eval() appends tokens at the next positions: many tokens go through the layers together
// (prefill, matrix x matrix, in chunks of n_batch), one token is a decode step.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/buffer.h"
#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace tandem::model {

struct ContextParams {
  int64_t n_ctx = 0;        // positions; 0 = the model's training context, at most 4096
  int64_t n_batch = 512;    // tokens per forward pass in prefill
  DType kv_type = DType::F16;
  ThreadPool* pool = nullptr;  // null: ThreadPool::global()
};

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
  size_t kv_bytes() const { return kv_.bytes(); }

 private:
  void forward(const TokenId* tokens, int64_t n, bool all_logits, float* logits);
  void attention(int64_t layer, int64_t n, int64_t pos0);

  const Model* model_;
  const HParams& hp_;
  ThreadPool* pool_;
  int64_t n_ctx_, n_batch_;
  int64_t n_past_ = 0;
  KvCache kv_;
  MatmulScratch mm_scratch_;

  // Activations for one chunk of up to n_batch tokens.
  AlignedBuffer x_;      // [n_batch][n_embd] residual stream
  AlignedBuffer h_;      // [n_batch][n_embd] normed input / block output
  AlignedBuffer q_;      // [n_batch][n_head * head_dim_k]
  AlignedBuffer k_;      // [n_batch][n_head_kv * head_dim_k]
  AlignedBuffer v_;      // [n_batch][n_head_kv * head_dim_v]
  AlignedBuffer attn_;   // [n_batch][n_head * head_dim_v]
  AlignedBuffer gate_;   // [n_batch][n_ff]
  AlignedBuffer up_;     // [n_batch][n_ff]
  AlignedBuffer scores_; // [threads][n_ctx] attention weights, one row per thread
  std::vector<int32_t> pos_;  // [n_batch]
  std::vector<float> logits_;  // [n_out][n_vocab]
};

}  // namespace tandem::model
