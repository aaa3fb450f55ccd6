// F32, F16 and BF16 rows to and from f32: the scalar references. F16 rounds to nearest even
// (as ggml_fp32_to_fp16_row), BF16 rounds to nearest even with NaN kept quiet (as
// ggml_fp32_to_bf16_row_ref); both widen exactly.
#include <cstring>

#include "core/half.h"
#include "kernels/quant_impl.h"

namespace tandem {
namespace {

void dequantize_row_f32(const void* src, float* dst, int64_t n) {
  std::memmove(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void quantize_row_f32(const float* src, void* dst, int64_t n) {
  std::memmove(dst, src, static_cast<size_t>(n) * sizeof(float));
}

// [n] f16 -> [n] f32
void dequantize_row_f16(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const f16*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = to_f32(x[i]);
}
// [n] f32 -> [n] f16
void quantize_row_f16(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<f16*>(dst);
  for (int64_t i = 0; i < n; ++i) y[i] = to_f16(src[i]);
}

// [n] bf16 -> [n] f32
void dequantize_row_bf16(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const bf16*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = to_f32(x[i]);
}
// [n] f32 -> [n] bf16
void quantize_row_bf16(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<bf16*>(dst);
  for (int64_t i = 0; i < n; ++i) y[i] = to_bf16(src[i]);
}

}  // namespace

void register_quant_float(QuantOps& ops) {
  set_quant_ops(ops, DType::F32, dequantize_row_f32, quantize_row_f32);
  set_quant_ops(ops, DType::F16, dequantize_row_f16, quantize_row_f16);
  set_quant_ops(ops, DType::BF16, dequantize_row_bf16, quantize_row_bf16);
}

}  // namespace tandem
