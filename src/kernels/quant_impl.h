// Internal to the quantization kernels (quant*.cpp, x86/*/quant*.cpp): the family registrars
// that fill a QuantOps table and the small helpers their scalar references share. Not part of
// the kernels' public interface; callers use kernels/quant.h.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/quant.h"

namespace tandem {

// Family registrars: each installs the scalar reference of the formats it owns.
void register_quant_float(QuantOps& ops);   // quant_float.cpp   F32, F16, BF16
void register_quant_legacy(QuantOps& ops);  // quant_legacy.cpp  Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
void register_quant_k(QuantOps& ops);       // quant_k.cpp       Q4_K, Q5_K, Q6_K, Q8_K
void register_quant_k_low(QuantOps& ops);   // quant_k_low.cpp   Q2_K, Q3_K
void register_quant_iq(QuantOps& ops);      // quant_iq.cpp      IQ4_NL, IQ4_XS (dequantize only)

// The ISA variants, one file each, built with that level's flags. They override only the
// entries they implement; call them only once CPUID reports the level.
namespace avx2 {
void register_quant(QuantOps& ops);  // x86/avx2/quant_avx2.cpp
}
namespace avx512 {
void register_quant(QuantOps& ops);  // x86/avx512/quant_avx512.cpp
}

inline void set_quant_ops(QuantOps& ops, DType t, DequantizeFn dequantize, QuantizeFn quantize) {
  if (dequantize != nullptr) ops.dequantize[static_cast<size_t>(t)] = dequantize;
  if (quantize != nullptr) ops.quantize[static_cast<size_t>(t)] = quantize;
}

// Round to nearest, ties to even, for |x| <= 2^22, exactly as ggml's nearest_int: adding
// 1.5 * 2^23 leaves the rounded integer in the low mantissa bits.
inline int nearest_int(float x) {
  const float v = x + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

// float -> int32 as x86's cvttss2si (what ggml's float-to-integer casts compile to): truncate
// toward zero; NaN and out-of-range values give INT32_MIN. This is reached: a block of
// subnormals has a subnormal d, so 1/d and x * (1/d) are inf (and 0 * inf is NaN).
inline int32_t trunc_i32(float v) {
  if (!(v >= -2147483648.0f && v < 2147483648.0f)) return INT32_MIN;
  return static_cast<int32_t>(v);
}

// The j-th (0..7) 6-bit scale and min of a Q4_K / Q5_K super-block's 12 packed bytes: groups
// 0-3 keep theirs in the low 6 bits of bytes j and j+4; groups 4-7 split theirs into a nibble
// of byte j+4 and the top two bits of bytes j-4 (scale) and j (min).
inline void k_scale_min(int j, const uint8_t* packed, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = static_cast<uint8_t>((packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4));
    min = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

// The K-quant searches of llama.cpp's reference quantizers (defined in quant_k.cpp; the
// float operations run in ggml's order so the chosen levels, and so the bytes, are identical).
//
// make_qkx2_quants: levels L[i] in [0, nmax] with x ~ scale * L - min_out, minimising the
// weighted squared (use_mad: absolute) error over nstep + 1 trial scales
// (nmax + rmin + rdelta * is) / (max - min). Returns scale; min_out >= 0. laux: n bytes scratch.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float& min_out, uint8_t* laux, float rmin, float rdelta, int nstep,
                       bool use_mad);
// make_qx_quants with rmse_type 1 and no importance weights (weights x^2): signed levels
// L[i] - nmax in [-nmax, nmax - 1] with x ~ scale * (L - nmax), refined over 18 trial scales.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L);

}  // namespace tandem
