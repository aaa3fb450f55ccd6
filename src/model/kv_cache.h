// The KV cache of one sequence: keys and values of every layer for positions [0, n_ctx).
// Keys are stored row-major by position, values transposed (by dimension), so both halves of
// attention are dot products over contiguous rows: scores = K . q, out = V^T . p.
// This contiguous layout is the single-sequence case; the paged pool of the serving engine
// keeps the same per-block layout.
#pragma once

#include <cstdint>
#include <vector>

#include "core/buffer.h"
#include "core/dtype.h"

namespace tandem::model {

class KvCache {
 public:
  // dtype: F16 (default) or F32.
  KvCache(int64_t n_layer, int64_t n_ctx, int64_t n_head_kv, int64_t head_dim_k,
          int64_t head_dim_v, DType dtype);
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  DType dtype() const { return dtype_; }
  int64_t n_ctx() const { return n_ctx_; }
  size_t bytes() const { return k_.size() + v_.size(); }

  // Writes rows for positions [pos, pos + n) of one layer. k: [n][n_head_kv * head_dim_k],
  // v: [n][n_head_kv * head_dim_v], f32.
  void store(int64_t layer, int64_t pos, int64_t n, const float* k, const float* v);

  // Key rows of one KV head: row p (position p) at keys(layer, h) + p * key_stride() bytes.
  const std::byte* keys(int64_t layer, int64_t head) const;
  size_t key_stride() const { return static_cast<size_t>(n_head_kv_ * hd_k_) * elt_; }
  // Value rows of one KV head, transposed: row d (dimension d) holds that dimension at every
  // position, value_stride() bytes apart.
  const std::byte* values(int64_t layer, int64_t head) const;
  size_t value_stride() const { return static_cast<size_t>(n_ctx_) * elt_; }

 private:
  int64_t n_layer_, n_ctx_, n_head_kv_, hd_k_, hd_v_;
  DType dtype_;
  size_t elt_;
  AlignedBuffer k_;  // [n_layer][n_ctx][n_head_kv][head_dim_k]
  AlignedBuffer v_;  // [n_layer][n_head_kv][head_dim_v][n_ctx]
};

}  // namespace tandem::model
