// x86 helpers shared by the AVX2 and AVX-512 K-quant kernels. Only included by files built
// with AVX2 + F16C (x86/avx2/, x86/avx512/).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/half.h"

namespace tandem::x86k {

// The 8 scales (bytes 0-7) and 8 mins (bytes 8-15) of a Q4_K / Q5_K super-block, as
// unpack_k_scales does it, in one register. Reads 16 bytes at `packed`: the 12 scale bytes and
// the 4 that follow them inside the block.
//   dword 0, 1 of the 12 bytes: low 6 bits = scales / mins 0-3, top 2 bits = high bits of 4-7
//   dword 2: low nibbles = low bits of scales 4-7, high nibbles = low bits of mins 4-7
inline __m128i unpack_k_scales(const uint8_t* packed) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(packed));  // [u0 u1 u2 -]
  const __m128i lo = _mm_and_si128(v, _mm_set1_epi32(0x3f3f3f3f));              // [sc0-3 mn0-3]
  const __m128i u2 = _mm_srlv_epi32(_mm_shuffle_epi32(v, 0xaa), _mm_setr_epi32(0, 4, 0, 0));
  const __m128i top = _mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(v, 6), _mm_set1_epi32(0x03030303)), 4);
  const __m128i hi = _mm_or_si128(_mm_and_si128(u2, _mm_set1_epi32(0x0f0f0f0f)), top);  // [sc4-7 mn4-7]
  return _mm_unpacklo_epi32(lo, hi);
}

// Two consecutive halves (d, dmin) as floats in lanes 0 and 1, by F16C.
inline __m128 load_half2(const f16* p) {
  uint32_t bits;
  std::memcpy(&bits, p, 4);
  return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(bits)));
}

inline float half_to_float(f16 h) { return _cvtsh_ss(h.bits); }

// Prefetch (into L2) every cache line of the object `ahead` bytes after x.
template <typename Block>
inline void prefetch_ahead(const Block& x, size_t ahead) {
  const char* p = reinterpret_cast<const char*>(&x) + ahead;
  for (size_t off = 0; off < sizeof(Block); off += 64) _mm_prefetch(p + off, _MM_HINT_T1);
}

}  // namespace tandem::x86k
