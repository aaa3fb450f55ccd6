#include "kernels/quant.h"

#include "core/error.h"

namespace tandem {

// Placeholder until the quantization formats land: no entries.
const QuantOps& quant_ops(Isa) {
  static const QuantOps ops;
  return ops;
}

bool can_dequantize(DType t) { return quant_ops().dequantize[static_cast<size_t>(t)] != nullptr; }
bool can_quantize(DType t) { return quant_ops().quantize[static_cast<size_t>(t)] != nullptr; }

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  auto fn = quant_ops().dequantize[static_cast<size_t>(t)];
  if (fn == nullptr) throw_input("dequantize: type {} is not supported", dtype_name(t));
  fn(src, dst, n);
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  auto fn = quant_ops().quantize[static_cast<size_t>(t)];
  if (fn == nullptr) throw_input("quantize: type {} is not supported", dtype_name(t));
  fn(src, dst, n);
}

}  // namespace tandem
