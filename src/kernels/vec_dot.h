// Dot products of weight rows with one activation row: the inner loop of matrix x vector and
// matrix x matrix. Each weight type names the format its activations are converted to first
// (F32 for float weights, Q8_0 for the legacy 32-blocks, Q8_K for the K-quants), so the inner
// loop can use 8-bit integer dot products (VNNI / AVX2 maddubs).
//
// Kernels are registered per family and ISA level by the files that implement them:
//   vec_dot_float.cpp   F32, F16, BF16 (AVX512-BF16: BF16 activations)   (+ x86/avx2, x86/avx512)
//   vec_dot_legacy.cpp  Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, activation quantizer Q8_0  (+ x86/...)
//   vec_dot_k.cpp       Q4_K, Q5_K, Q6_K, activation quantizer Q8_K
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/isa.h"

namespace tandem {

// out[r] = sum_i w_r[i] * a[i] for r in [0, nr). w points at row 0; rows are w_stride bytes
// apart; k is the row length in elements (a multiple of the weight's block size); act holds the
// activation row already converted to the kernel's act_type.
using VecDotFn = void (*)(int64_t k, const void* w, size_t w_stride, int nr, const void* act,
                          float* out);
// The same for several activation rows at once (a block of matrix x matrix): for r < nr, t < nt
//   out[t * out_stride + r] = sum_i w_r[i] * act_t[i],  act_t at act + t * act_stride bytes.
// Any nr, nt >= 1; the kernel walks them in tiles of max_rows x max_tokens (each weight block
// unpacked once per tile), so callers pass blocks of several tiles. Every result equals what
// `dot` gives for that row and token, bit for bit.
using GemmFn = void (*)(int64_t k, const void* w, size_t w_stride, int nr, const void* act,
                        size_t act_stride, int nt, float* out, size_t out_stride);
// Row r of weight rows that start at w and lie w_stride bytes apart.
inline const char* row_ptr(const void* w, size_t w_stride, int r) {
  return static_cast<const char*>(w) + static_cast<size_t>(r) * w_stride;
}

// Converts k f32 activations to act_type blocks (k a multiple of its block size).
using ActQuantizeFn = void (*)(const float* x, void* dst, int64_t k);

struct VecDotKernel {
  DType act_type = DType::F32;
  VecDotFn dot = nullptr;  // null: this weight type has no kernel
  int max_rows = 1;        // nr the kernel is fastest at (callers pass 1..max_rows)
  GemmFn gemm = nullptr;   // optional multi-token form; null: matmul loops over `dot`
  int max_tokens = 1;      // tokens per gemm tile
};

// The kernel of a weight type repacked at load (kernels/packed.h): activations converted by
// act_quantize into rows of packed_act_row_bytes(type, k), then gemm over whole groups of 16 rows
// (w_stride = group bytes / 16; any nt, including 1 for matrix x vector).
struct PackedKernel {
  ActQuantizeFn act_quantize = nullptr;  // null: the type is not repacked at this level
  GemmFn gemm = nullptr;
  int max_tokens = 1;
};

struct VecDotTable {
  std::array<VecDotKernel, static_cast<size_t>(DType::Count)> by_weight{};
  std::array<PackedKernel, static_cast<size_t>(DType::Count)> packed{};
  std::array<ActQuantizeFn, static_cast<size_t>(DType::Count)> act_quantize{};  // by act_type
};

// The table of one ISA level: built by calling every family's registrar for Scalar, then for
// each higher level up to `isa`, so a level overrides only what it implements.
const VecDotTable& vec_dot_table(Isa isa);
inline const VecDotTable& vec_dot_table() { return vec_dot_table(active_isa()); }

// Family registrars (one per file above). Each sets the entries it implements for exactly the
// level `isa` and leaves the rest alone.
void register_vec_dot_float(VecDotTable& t, Isa isa);
void register_vec_dot_legacy(VecDotTable& t, Isa isa);
void register_vec_dot_k(VecDotTable& t, Isa isa);
void register_gemm_packed(VecDotTable& t, Isa isa);  // kernels/packed.cpp

// The ISA variants behind the float and legacy registrars, one file each under x86/avx2/ and
// x86/avx512/ (built with that level's flags; only called once CPUID says the level exists).
namespace avx2 {
void register_vec_dot_float(VecDotTable& t);
void register_vec_dot_legacy(VecDotTable& t);
void register_gemm_packed(VecDotTable& t);
}  // namespace avx2
namespace avx512 {
void register_vec_dot_float(VecDotTable& t);
void register_vec_dot_legacy(VecDotTable& t);
void register_gemm_packed(VecDotTable& t);
}  // namespace avx512

// The scalar Q8_0 activation quantizer, bit-exact with ggml's quantize_row_q8_0_ref:
// per 32 values d = amax / 127 (stored as f16), q = roundf(x * (1 / d)) (half away from zero).
// Every SIMD variant produces the same bytes.
void quantize_row_q8_0_act(const float* x, void* dst, int64_t k);
// f32 -> bf16 activations (round to nearest even), for the AVX512-BF16 dot product.
void quantize_row_bf16_act(const float* x, void* dst, int64_t k);

}  // namespace tandem
