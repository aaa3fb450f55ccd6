// The quantization ops tables, one per ISA level, and the by-type entry points. A level's table
// is the scalar references overridden by each level's variants up to it, so every entry is
// always set and a level only replaces what it implements.
#include "kernels/quant.h"

#include "core/error.h"
#include "kernels/quant_impl.h"

namespace tandem {
namespace {

QuantOps build(Isa top) {
  QuantOps ops;
  register_quant_float(ops);
  register_quant_legacy(ops);
  register_quant_k(ops);
  register_quant_k_low(ops);
  register_quant_iq(ops);
  if (top >= Isa::Avx2) avx2::register_quant(ops);
  if (top >= Isa::Avx512) avx512::register_quant(ops);
  return ops;
}

}  // namespace

const QuantOps& quant_ops(Isa isa) {
  return isa_table<QuantOps>(isa, "quant_ops", build);
}

bool can_dequantize(DType t) {
  return t < DType::Count && quant_ops().dequantize[static_cast<size_t>(t)] != nullptr;
}
bool can_quantize(DType t) {
  return t < DType::Count && quant_ops().quantize[static_cast<size_t>(t)] != nullptr;
}

namespace {

void check_row(const char* what, DType t, int64_t n) {
  if (t >= DType::Count) throw_input("{}: type id {} is not a ggml type", what, static_cast<int>(t));
  const uint32_t bs = block_size(t);
  if (n < 0 || (bs != 0 && n % bs != 0))
    throw_input("{}: {} elements is not a multiple of {}'s block size {}", what, n, dtype_name(t),
                bs);
}

}  // namespace

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  check_row("dequantize", t, n);
  auto fn = quant_ops().dequantize[static_cast<size_t>(t)];
  if (fn == nullptr)
    throw_input("dequantize: type {} is not supported (convert the file to a K or legacy quant)",
                dtype_name(t));
  fn(src, dst, n);
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  check_row("quantize", t, n);
  auto fn = quant_ops().quantize[static_cast<size_t>(t)];
  if (fn == nullptr)
    throw_input("quantize: type {} is not supported (supported: f32, f16, bf16, q8_0, q4_0, "
                "q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K, q8_K)",
                dtype_name(t));
  fn(src, dst, n);
}

}  // namespace tandem
