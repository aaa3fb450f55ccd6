// Helpers shared by the K-quant vec-dot kernels (scalar reference and ISA variants).
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/vec_dot.h"

namespace tandem {

// The 8 six-bit scales and mins of a Q4_K / Q5_K super-block, unpacked from its 12 bytes:
// groups 0-3 keep theirs in the low 6 bits of bytes j (scale) and j+4 (min); groups 4-7 split
// theirs into a nibble of byte j+4 and the top two bits of bytes j-4 (scale) and j (min).
inline void unpack_k_scales(const uint8_t packed[12], uint8_t sc[8], uint8_t mn[8]) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t sc_lo = u[0] & 0x3f3f3f3fu;
  const uint32_t mn_lo = u[1] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  const uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  std::memcpy(sc, &sc_lo, 4);
  std::memcpy(sc + 4, &sc_hi, 4);
  std::memcpy(mn, &mn_lo, 4);
  std::memcpy(mn + 4, &mn_hi, 4);
}

// The scalar Q8_K activation quantizer (vec_dot_k.cpp), bit-exact with ggml's
// quantize_row_q8_K_ref; every SIMD variant produces the same bytes.
void quantize_row_q8_K_act(const float* x, void* dst, int64_t k);

namespace avx2 {
void register_vec_dot_k(VecDotTable& t);  // x86/avx2/vec_dot_k.cpp
}
namespace avx512 {
void register_vec_dot_k(VecDotTable& t);  // x86/avx512/vec_dot_k.cpp
}

}  // namespace tandem
