#include "model/kv_layout.h"

#include <string_view>

#include "core/error.h"
#include "model/hparams.h"

namespace tandem::model {

KvLayout::KvLayout(const HParams& hp, DType dtype, int64_t block_tokens)
    : dtype_(dtype), bt_(block_tokens), n_layer_(hp.n_layer), hd_k_(hp.head_dim_k), hd_v_(hp.head_dim_v) {
  if (dtype != DType::F16 && dtype != DType::F32 && dtype != DType::Q8_0)
    throw_input("KV cache type {} is not supported (f16, f32, q8_0)", dtype_name(dtype));
  const auto bs = static_cast<int64_t>(block_size(dtype));
  if (hd_k_ % bs != 0 || hd_v_ % bs != 0)
    throw_input("KV cache type {} needs head dimensions that are multiples of {} (this model has {} and {})",
                dtype_name(dtype), bs, hd_k_, hd_v_);
  TANDEM_CHECK(block_tokens > 0, "KV block of {} tokens", block_tokens);
  key_row_ = row_bytes(dtype, hp.n_head_kv * hd_k_);
  value_row_ = row_bytes(dtype, hp.n_head_kv * hd_v_);
}

DType parse_kv_type(const char* name) {
  const std::string_view s = name;
  if (s == "f16") return DType::F16;
  if (s == "f32") return DType::F32;
  if (s == "q8_0") return DType::Q8_0;
  throw_input("KV cache type '{}' is not supported (f16, f32, q8_0)", s);
}

}  // namespace tandem::model
