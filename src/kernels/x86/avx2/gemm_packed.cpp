// AVX2 kernels over weights repacked in groups of 16 rows (kernels/packed.h), for CPUs without
// VNNI. A 256-bit register holds half a group's vector (4 bytes of each of 8 rows), so a group
// is two halves. Each block (super-block for the K-quants) is unpacked once per tile into an
// L1 scratch of unsigned bytes; then, per token, maddubs multiplies 4 activation bytes
// (broadcast to all lanes) into all 8 rows of a half at once, summing pairs to 16 bits.
//
// maddubs saturates at 16 bits, so the sums are kept short enough to be exact:
//   Q4_0: q in [0, 15], a in [-128, 127]: 8 products of pairs <= 8 * 3840 < 32767 summed in
//         16 bits, then madd with ones to 32 bits; the weights' offset 8 through -8 * sum(a).
//   Q8_0: the sign trick maddubs(|w|, sign(a, w)) (a pair <= 2 * 128 * 127), each product
//         widened to 32 bits at once.
//   Q4_K: per 32-element sub-block as Q4_0 (no offset), then madd with the sub-block's 6-bit
//         scale in both 16-bit halves of each row's lane; the mins as sum_s m_s * sum32_s(a).
//   Q6_K: v in [0, 63]: two products of pairs <= 2 * 16128 in 16 bits, madd with the 8-bit
//         scale; the offset 32 as -32 * sum_j sc_j * bsum_j(a) per super-block.
// Every integer is exact until the one conversion to f32 per block (super-block for the
// K-quants), so a token's result does not depend on the tile it shares.
#include <immintrin.h>

#include <array>
#include <cstring>
#include <utility>

#include "kernels/packed.h"
#include "kernels/vec_dot.h"

namespace tandem::avx2 {
namespace {

constexpr int kMaxTokens = 32;
// Row groups per Q4_0 tile: each activation broadcast serves 2 * kMaxGroups maddubs.
constexpr int kMaxGroups = 4;
// Software prefetch of every cache line this far ahead along a group's stream (as AVX-512).
constexpr size_t kPrefetchAhead = 4096;

inline __m256i bcast(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}
inline __m256i load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline void prefetch(const char* p, size_t bytes) {
  for (size_t l = 0; l < bytes; l += 64) _mm_prefetch(p + kPrefetchAhead + l, _MM_HINT_T0);
}
// The 16 f16 values at p as two vectors of 8 (rows 0-7, 8-15).
inline void load_f16x16(const char* p, __m256& lo, __m256& hi) {
  lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  hi = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
}
// 8 bytes at p widened to 8 lanes, each holding the value in both 16-bit halves (a madd factor).
inline __m256i pair_u8(const uint8_t* p) {
  const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  return _mm256_or_si256(v, _mm256_slli_epi32(v, 16));
}
// The first min(n, 8) floats of v to out.
inline void store_half(float* out, __m256 v, int n) {
  if (n >= 8) {
    _mm256_storeu_ps(out, v);
    return;
  }
  alignas(32) float tmp[8];
  _mm256_store_ps(tmp, v);
  std::memcpy(out, tmp, sizeof(float) * static_cast<size_t>(n));
}
inline void store_rows(float* out, __m256 lo, __m256 hi, int nrows) {
  if (nrows >= kPackRows) {
    _mm256_storeu_ps(out, lo);
    _mm256_storeu_ps(out + 8, hi);
    return;
  }
  alignas(32) float tmp[kPackRows];
  _mm256_store_ps(tmp, lo);
  _mm256_store_ps(tmp + 8, hi);
  std::memcpy(out, tmp, sizeof(float) * static_cast<size_t>(nrows));
}

// The 8 vectors (x 2 halves) of one 32-element nibble block of 16 rows: q[2j + h] holds
// elements 4j..4j+3 (j < 4: low nibbles; j >= 4: elements 16 + 4(j-4).. from high nibbles) of
// rows 8h..8h+7.
inline void unpack_nibbles(const char* p, __m256i q[16]) {
  const __m256i m = _mm256_set1_epi8(0x0f);
  for (int j = 0; j < 4; ++j)
    for (int h = 0; h < 2; ++h) {
      const __m256i v = load(p + 64 * j + 32 * h);
      q[2 * j + h] = _mm256_and_si256(v, m);
      q[2 * (j + 4) + h] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    }
}

// Sums over 32 elements of q * a in 16 bits, per half (pairs of products per 32-bit lane).
inline void dot32_i16(const __m256i q[16], const int8_t* a, __m256i& s0, __m256i& s1) {
  __m256i b = bcast(a);
  s0 = _mm256_maddubs_epi16(q[0], b);
  s1 = _mm256_maddubs_epi16(q[1], b);
  for (int j = 1; j < 8; ++j) {
    b = bcast(a + 4 * j);
    s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(q[2 * j], b));
    s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(q[2 * j + 1], b));
  }
}

// Up to kMaxGroups groups (ng) x NT tokens of a Q4_0 matrix. Per block, the groups' weights
// are unpacked once into `w` (L1) as signed bytes q - 8, with each row's 128 * sum(q - 8); per
// token, the 8 activation broadcasts are made once, flipped to unsigned a + 128, and serve every
// 8-row half of every group as the unsigned operand of maddubs (the weights, being the signed
// one, are read straight from L1 by it):
//   sum (q - 8) a = sum (q - 8)(a + 128) - 128 sum (q - 8)
// with |pair| <= 2 * 255 * 8, so the 8 products of a half sum exactly in 16 bits (<= 32640).
template <int NT>
void tile_q4_0(int64_t nb, const char* g, size_t gbytes, int ng, const char* act, size_t as, float* out, size_t os,
               int nrows) {
  constexpr size_t kBlock = 288;
  const __m256i m = _mm256_set1_epi8(0x0f), eight = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
  const __m256i ones8 = _mm256_set1_epi8(1), flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const int nh = 2 * ng;
  alignas(32) __m256 acc[NT][2 * kMaxGroups];
  alignas(32) __m256i w[2 * kMaxGroups][8];
  alignas(32) __m256i corr[2 * kMaxGroups];  // 128 * sum(q - 8) per row
  alignas(32) __m256 dw[2 * kMaxGroups];
  for (int t = 0; t < NT; ++t)
    for (int h = 0; h < nh; ++h) acc[t][h] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    for (int gi = 0; gi < ng; ++gi) {
      const char* p = g + gi * gbytes + static_cast<size_t>(b) * kBlock;
      prefetch(p, kBlock);
      for (int h = 0; h < 2; ++h) {
        __m256i* wh = w[2 * gi + h];
        __m256i qsum = _mm256_setzero_si256();  // per byte: sum of 8 nibbles <= 120
        for (int j = 0; j < 4; ++j) {
          const __m256i v = load(p + 32 + 64 * j + 32 * h);
          const __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
          qsum = _mm256_add_epi8(qsum, _mm256_add_epi8(lo, hi));
          wh[j] = _mm256_sub_epi8(lo, eight);
          wh[j + 4] = _mm256_sub_epi8(hi, eight);
        }
        // 128 * (sum q - 8 * 32) per row
        const __m256i rs = _mm256_madd_epi16(_mm256_maddubs_epi16(qsum, ones8), ones);
        corr[2 * gi + h] = _mm256_slli_epi32(_mm256_sub_epi32(rs, _mm256_set1_epi32(256)), 7);
        dw[2 * gi + h] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * h)));
      }
    }
    for (int t = 0; t < NT; ++t) {
      const auto& a = reinterpret_cast<const ActQ8_0S*>(act + static_cast<size_t>(t) * as)[b];
      __m256i bc[8];
      for (int j = 0; j < 8; ++j) bc[j] = _mm256_xor_si256(bcast(a.qs + 4 * j), flip);
      const __m256 da = _mm256_broadcast_ss(&a.d);
      for (int h = 0; h < nh; ++h) {
        __m256i s = _mm256_maddubs_epi16(bc[0], w[h][0]);
        for (int j = 1; j < 8; ++j) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(bc[j], w[h][j]));
        const __m256 i = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_madd_epi16(s, ones), corr[h]));
        acc[t][h] = _mm256_fmadd_ps(i, _mm256_mul_ps(dw[h], da), acc[t][h]);
      }
    }
  }
  for (int t = 0; t < NT; ++t)
    for (int h = 0; h < nh && 8 * h < nrows; ++h) store_half(out + static_cast<size_t>(t) * os + 8 * h, acc[t][h], nrows - 8 * h);
}

// One group x NT tokens of a Q8_0 matrix (stored as w + 128).
template <int NT>
void tile_q8_0(int64_t nb, const char* g, const char* act, size_t as, float* out, size_t os, int nrows) {
  constexpr size_t kBlock = 544;
  const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256 acc[NT][2];
  for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  alignas(32) __m256i w[16], aw[16];  // signed weights and their magnitudes, [2j + h]
  for (int64_t b = 0; b < nb; ++b) {
    const char* p = g + static_cast<size_t>(b) * kBlock;
    prefetch(p, kBlock);
    for (int i = 0; i < 16; ++i) {
      w[i] = _mm256_xor_si256(load(p + 32 + 32 * i), flip);
      aw[i] = _mm256_sign_epi8(w[i], w[i]);
    }
    __m256 dw0, dw1;
    load_f16x16(p, dw0, dw1);
    for (int t = 0; t < NT; ++t) {
      const auto& a = reinterpret_cast<const ActQ8_0S*>(act + static_cast<size_t>(t) * as)[b];
      __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j) {
        const __m256i bc = bcast(a.qs + 4 * j);
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(aw[2 * j], _mm256_sign_epi8(bc, w[2 * j])), ones));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(aw[2 * j + 1], _mm256_sign_epi8(bc, w[2 * j + 1])), ones));
      }
      const __m256 da = _mm256_set1_ps(a.d);
      acc[t][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), _mm256_mul_ps(dw0, da), acc[t][0]);
      acc[t][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), _mm256_mul_ps(dw1, da), acc[t][1]);
    }
  }
  for (int t = 0; t < NT; ++t) store_rows(out + static_cast<size_t>(t) * os, acc[t][0], acc[t][1], nrows);
}

// One group x NT tokens of a Q4_K matrix.
template <int NT>
void tile_q4_k(int64_t nb, const char* g, const char* act, size_t as, float* out, size_t os, int nrows) {
  constexpr size_t kBlock = 2304, kHeader = 256, kSub = 256;
  const __m256i m3f = _mm256_set1_epi8(0x3f), m0f = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
  __m256 acc[NT][2];
  for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  alignas(32) __m256i q[8][16];
  alignas(32) __m256i sc[8][2];   // sub-block s, half h: the scale in both 16-bit halves
  alignas(32) __m256i mins[4][2]; // pair i, half h: (min of sub-block i, of i + 4)
  for (int64_t b = 0; b < nb; ++b) {
    const char* p = g + static_cast<size_t>(b) * kBlock;
    prefetch(p, kHeader);
    // Byte j of the 12 of each row at 64 + 16 j + r. Sub-block s < 4: scale b[s] & 63, min
    // b[s + 4] & 63; s >= 4: scale b[s + 4] & 15 | (b[s - 4] >> 6) << 4, min b[s + 4] >> 4 |
    // (b[s] >> 6) << 4. Decoded 32 bytes (two j) at a time.
    alignas(32) uint8_t sc8[2][64], m8[2][64];  // [s / 4][16 (s % 4) + r]
    for (int c = 0; c < 64; c += 32) {
      const __m256i b0 = load(p + 64 + c), b1 = load(p + 128 + c), b2 = load(p + 192 + c);
      _mm256_store_si256(reinterpret_cast<__m256i*>(sc8[0] + c), _mm256_and_si256(b0, m3f));
      _mm256_store_si256(reinterpret_cast<__m256i*>(sc8[1] + c),
                         _mm256_or_si256(_mm256_and_si256(b2, m0f), _mm256_and_si256(_mm256_srli_epi16(b0, 2), m30)));
      _mm256_store_si256(reinterpret_cast<__m256i*>(m8[0] + c), _mm256_and_si256(b1, m3f));
      _mm256_store_si256(reinterpret_cast<__m256i*>(m8[1] + c),
                         _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m0f),
                                         _mm256_and_si256(_mm256_srli_epi16(b1, 2), m30)));
    }
    for (int s = 0; s < 8; ++s)
      for (int h = 0; h < 2; ++h) sc[s][h] = pair_u8(sc8[s / 4] + 16 * (s % 4) + 8 * h);
    for (int i = 0; i < 4; ++i)
      for (int h = 0; h < 2; ++h) {
        const __m256i lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(m8[0] + 16 * i + 8 * h)));
        const __m256i hi = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(m8[1] + 16 * i + 8 * h)));
        mins[i][h] = _mm256_or_si256(lo, _mm256_slli_epi32(hi, 16));
      }
    for (int s = 0; s < 8; ++s) {
      const char* qp = p + kHeader + s * kSub;
      prefetch(qp, kSub);
      unpack_nibbles(qp, q[s]);
    }
    __m256 dw0, dw1, dm0, dm1;
    load_f16x16(p, dw0, dw1);
    load_f16x16(p + 32, dm0, dm1);
    for (int t = 0; t < NT; ++t) {
      const auto& a = reinterpret_cast<const ActQ8_K32*>(act + static_cast<size_t>(t) * as)[b];
      __m256i is0 = _mm256_setzero_si256(), is1 = _mm256_setzero_si256();
      for (int s = 0; s < 8; ++s) {
        __m256i s0, s1;
        dot32_i16(q[s], a.qs + 32 * s, s0, s1);
        is0 = _mm256_add_epi32(is0, _mm256_madd_epi16(s0, sc[s][0]));
        is1 = _mm256_add_epi32(is1, _mm256_madd_epi16(s1, sc[s][1]));
      }
      __m256i ms0 = _mm256_setzero_si256(), ms1 = _mm256_setzero_si256();
      for (int i = 0; i < 4; ++i) {
        const __m256i bs = bcast(a.sum32 + 2 * i);
        ms0 = _mm256_add_epi32(ms0, _mm256_madd_epi16(mins[i][0], bs));
        ms1 = _mm256_add_epi32(ms1, _mm256_madd_epi16(mins[i][1], bs));
      }
      const __m256 da = _mm256_set1_ps(a.d);
      acc[t][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is0), _mm256_mul_ps(dw0, da), acc[t][0]);
      acc[t][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is1), _mm256_mul_ps(dw1, da), acc[t][1]);
      acc[t][0] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms0), _mm256_mul_ps(dm0, da), acc[t][0]);
      acc[t][1] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms1), _mm256_mul_ps(dm1, da), acc[t][1]);
    }
  }
  for (int t = 0; t < NT; ++t) store_rows(out + static_cast<size_t>(t) * os, acc[t][0], acc[t][1], nrows);
}

// One group x NT tokens of a Q6_K matrix.
template <int NT>
void tile_q6_k(int64_t nb, const char* g, const char* act, size_t as, float* out, size_t os, int nrows) {
  constexpr size_t kBlock = 3360, kHeader = 288, kSub = 192;
  const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
  __m256 acc[NT][2];
  for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  alignas(32) __m256i q[16][8];    // sub-block j: [4 steps][2 halves]
  alignas(32) __m256i sc[16][2];   // sub-block j, half h: signed scale in both 16-bit halves
  alignas(32) __m256i scp[8][2];   // pair i, half h: (scale of sub-block 2i, of 2i + 1)
  for (int64_t b = 0; b < nb; ++b) {
    const char* p = g + static_cast<size_t>(b) * kBlock;
    prefetch(p, kHeader);
    for (int j = 0; j < 16; ++j)
      for (int h = 0; h < 2; ++h) {
        const __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 32 + 16 * j + 8 * h)));
        sc[j][h] = _mm256_or_si256(_mm256_and_si256(v, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(v, 16));
      }
    for (int i = 0; i < 8; ++i)
      for (int h = 0; h < 2; ++h)
        scp[i][h] = _mm256_blend_epi16(sc[2 * i][h], sc[2 * i + 1][h], 0xaa);
    for (int j = 0; j < 16; ++j) {
      const char* qp = p + kHeader + j * kSub;
      prefetch(qp, kSub);
      for (int h = 0; h < 2; ++h) {
        const __m256i lo01 = load(qp + 32 * h), lo23 = load(qp + 64 + 32 * h), hi = load(qp + 128 + 32 * h);
        // v = low 4 bits | (top 2 bits << 4)
        q[j][0 + h] = _mm256_or_si256(_mm256_and_si256(lo01, m4), _mm256_and_si256(_mm256_slli_epi16(hi, 4), m30));
        q[j][2 + h] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lo01, 4), m4),
                                      _mm256_and_si256(_mm256_slli_epi16(hi, 2), m30));
        q[j][4 + h] = _mm256_or_si256(_mm256_and_si256(lo23, m4), _mm256_and_si256(hi, m30));
        q[j][6 + h] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lo23, 4), m4),
                                      _mm256_and_si256(_mm256_srli_epi16(hi, 2), m30));
      }
    }
    __m256 dw0, dw1;
    load_f16x16(p, dw0, dw1);
    for (int t = 0; t < NT; ++t) {
      const auto& a = reinterpret_cast<const BlockQ8_K*>(act + static_cast<size_t>(t) * as)[b];
      // -32 * sum_j sc_j * bsum_j
      __m256i is0 = _mm256_setzero_si256(), is1 = _mm256_setzero_si256();
      for (int i = 0; i < 8; ++i) {
        const __m256i bs = bcast(a.bsums + 2 * i);
        is0 = _mm256_add_epi32(is0, _mm256_madd_epi16(scp[i][0], bs));
        is1 = _mm256_add_epi32(is1, _mm256_madd_epi16(scp[i][1], bs));
      }
      is0 = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(is0, 5));
      is1 = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(is1, 5));
      for (int j = 0; j < 16; ++j) {
        const int8_t* aq = a.qs + 16 * j;
        const __m256i b0 = bcast(aq), b1 = bcast(aq + 4), b2 = bcast(aq + 8), b3 = bcast(aq + 12);
        const __m256i s01a = _mm256_add_epi16(_mm256_maddubs_epi16(q[j][0], b0), _mm256_maddubs_epi16(q[j][2], b1));
        const __m256i s23a = _mm256_add_epi16(_mm256_maddubs_epi16(q[j][4], b2), _mm256_maddubs_epi16(q[j][6], b3));
        const __m256i s01b = _mm256_add_epi16(_mm256_maddubs_epi16(q[j][1], b0), _mm256_maddubs_epi16(q[j][3], b1));
        const __m256i s23b = _mm256_add_epi16(_mm256_maddubs_epi16(q[j][5], b2), _mm256_maddubs_epi16(q[j][7], b3));
        is0 = _mm256_add_epi32(is0, _mm256_add_epi32(_mm256_madd_epi16(s01a, sc[j][0]), _mm256_madd_epi16(s23a, sc[j][0])));
        is1 = _mm256_add_epi32(is1, _mm256_add_epi32(_mm256_madd_epi16(s01b, sc[j][1]), _mm256_madd_epi16(s23b, sc[j][1])));
      }
      const __m256 da = _mm256_set1_ps(a.d);
      acc[t][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is0), _mm256_mul_ps(dw0, da), acc[t][0]);
      acc[t][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is1), _mm256_mul_ps(dw1, da), acc[t][1]);
    }
  }
  for (int t = 0; t < NT; ++t) store_rows(out + static_cast<size_t>(t) * os, acc[t][0], acc[t][1], nrows);
}

using TileFn = void (*)(int64_t, const char*, const char*, size_t, float*, size_t, int);

template <template <int> class Tile, int... I>
constexpr std::array<TileFn, sizeof...(I)> tiles(std::integer_sequence<int, I...>) {
  return {Tile<I + 1>::run...};
}
template <int NT> struct Q8_0Tile { static constexpr TileFn run = &tile_q8_0<NT>; };
template <int NT> struct Q4_KTile { static constexpr TileFn run = &tile_q4_k<NT>; };
template <int NT> struct Q6_KTile { static constexpr TileFn run = &tile_q6_k<NT>; };

template <template <int> class Tile, int64_t BlockElems>
void gemm(int64_t k, const void* w, size_t w_stride, int nr, const void* act, size_t act_stride, int nt, float* out,
          size_t out_stride) {
  static constexpr auto kTiles = tiles<Tile>(std::make_integer_sequence<int, kMaxTokens>{});
  const size_t gbytes = kPackRows * w_stride;
  const auto* wp = static_cast<const char*>(w);
  const auto* ap = static_cast<const char*>(act);
  for (int t = 0; t < nt; t += kMaxTokens) {
    const int mt = nt - t < kMaxTokens ? nt - t : kMaxTokens;
    for (int r = 0; r < nr; r += kPackRows)
      kTiles[static_cast<size_t>(mt - 1)](k / BlockElems, wp + static_cast<size_t>(r / kPackRows) * gbytes,
                                          ap + static_cast<size_t>(t) * act_stride, act_stride,
                                          out + static_cast<size_t>(t) * out_stride + r, out_stride, nr - r);
  }
}

template <int... I>
constexpr std::array<decltype(&tile_q4_0<1>), sizeof...(I)> q4_0_tiles(std::integer_sequence<int, I...>) {
  return {&tile_q4_0<I + 1>...};
}

void gemm_q4_0(int64_t k, const void* w, size_t w_stride, int nr, const void* act, size_t act_stride, int nt,
               float* out, size_t out_stride) {
  static constexpr auto kTiles = q4_0_tiles(std::make_integer_sequence<int, kMaxTokens>{});
  constexpr int kRows = kMaxGroups * kPackRows;
  const size_t gbytes = kPackRows * w_stride;
  const auto* wp = static_cast<const char*>(w);
  const auto* ap = static_cast<const char*>(act);
  for (int t = 0; t < nt; t += kMaxTokens) {
    const int mt = nt - t < kMaxTokens ? nt - t : kMaxTokens;
    for (int r = 0; r < nr; r += kRows) {
      const int rows = nr - r < kRows ? nr - r : kRows;
      kTiles[static_cast<size_t>(mt - 1)](k / kQK, wp + static_cast<size_t>(r / kPackRows) * gbytes, gbytes,
                                          (rows + kPackRows - 1) / kPackRows, ap + static_cast<size_t>(t) * act_stride,
                                          act_stride, out + static_cast<size_t>(t) * out_stride + r, out_stride, rows);
    }
  }
}

}  // namespace

void register_gemm_packed(VecDotTable& t) {
  t.packed[static_cast<size_t>(DType::Q4_0)] = {quantize_row_q8_0s<Isa::Avx2>, gemm_q4_0, kMaxTokens};
  t.packed[static_cast<size_t>(DType::Q8_0)] = {quantize_row_q8_0s<Isa::Avx2>, gemm<Q8_0Tile, kQK>, kMaxTokens};
  t.packed[static_cast<size_t>(DType::Q4_K)] = {quantize_row_q8_k32<Isa::Avx2>, gemm<Q4_KTile, kQK_K>, kMaxTokens};
  t.packed[static_cast<size_t>(DType::Q6_K)] = {quantize_row_q8_k<Isa::Avx2>, gemm<Q6_KTile, kQK_K>, kMaxTokens};
}

}  // namespace tandem::avx2
