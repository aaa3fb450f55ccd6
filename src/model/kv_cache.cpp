#include "model/kv_cache.h"

#include "core/error.h"
#include "core/half.h"
#include "kernels/quant.h"

namespace tandem::model {

KvCache::KvCache(int64_t n_layer, int64_t n_ctx, int64_t n_head_kv, int64_t head_dim_k,
                 int64_t head_dim_v, DType dtype)
    : n_layer_(n_layer), n_ctx_(n_ctx), n_head_kv_(n_head_kv), hd_k_(head_dim_k),
      hd_v_(head_dim_v), dtype_(dtype) {
  if (dtype != DType::F16 && dtype != DType::F32)
    throw_input("KV cache type {} is not supported (f16, f32)", dtype_name(dtype));
  elt_ = dtype == DType::F16 ? 2 : 4;
  const size_t per_layer_k = static_cast<size_t>(n_ctx * n_head_kv * head_dim_k) * elt_;
  const size_t per_layer_v = static_cast<size_t>(n_ctx * n_head_kv * head_dim_v) * elt_;
  k_ = AlignedBuffer(per_layer_k * static_cast<size_t>(n_layer));
  v_ = AlignedBuffer(per_layer_v * static_cast<size_t>(n_layer));
}

const std::byte* KvCache::keys(int64_t layer, int64_t head) const {
  const size_t layer_bytes = static_cast<size_t>(n_ctx_) * key_stride();
  return k_.data() + static_cast<size_t>(layer) * layer_bytes +
         static_cast<size_t>(head * hd_k_) * elt_;
}

const std::byte* KvCache::values(int64_t layer, int64_t head) const {
  const size_t head_bytes = static_cast<size_t>(hd_v_) * value_stride();
  return v_.data() + static_cast<size_t>(layer * n_head_kv_ + head) * head_bytes;
}

void KvCache::store(int64_t layer, int64_t pos, int64_t n, const float* k, const float* v) {
  TANDEM_CHECK(layer >= 0 && layer < n_layer_ && pos >= 0 && pos + n <= n_ctx_,
               "store layer {} positions [{}, {}) outside the cache of {}", layer, pos, pos + n, n_ctx_);
  const int64_t kw = n_head_kv_ * hd_k_, vw = n_head_kv_ * hd_v_;
  std::byte* kdst = const_cast<std::byte*>(keys(layer, 0)) + static_cast<size_t>(pos) * key_stride();
  for (int64_t t = 0; t < n; ++t)
    quantize_row(dtype_, k + t * kw, kdst + static_cast<size_t>(t) * key_stride(), kw);
  // Values: one transposed row per (head, dimension); position pos + t is column pos + t.
  for (int64_t h = 0; h < n_head_kv_; ++h) {
    std::byte* base = const_cast<std::byte*>(values(layer, h));
    for (int64_t d = 0; d < hd_v_; ++d) {
      std::byte* row = base + static_cast<size_t>(d) * value_stride();
      for (int64_t t = 0; t < n; ++t) {
        const float x = v[t * vw + h * hd_v_ + d];
        if (dtype_ == DType::F16)
          reinterpret_cast<uint16_t*>(row)[pos + t] = fp32_to_fp16(x);
        else
          reinterpret_cast<float*>(row)[pos + t] = x;
      }
    }
  }
}

}  // namespace tandem::model
