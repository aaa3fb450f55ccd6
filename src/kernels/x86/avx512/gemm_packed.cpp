// AVX-512 VNNI kernels over weights repacked in groups of 16 rows (kernels/packed.h): a tile
// of 16 rows x NT tokens keeps one f32 accumulator vector per token (lane r = row r). Each
// block's weights are loaded and unpacked once per tile; per token, vpdpbusd multiplies 4
// activation bytes (broadcast to all lanes) into all 16 rows at once.
//
// vpdpbusd multiplies unsigned weight bytes by signed activation bytes; the weights' offset is
// taken back through the integer accumulator's start value:
//   Q4_0: sum (q - 8) * a = dpbusd(-8 * sum(a), q, a)      q in [0, 15]
//   Q8_0: sum w * a      = dpbusd(-128 * sum(a), w + 128, a)
//   Q4_K: per sub-block s, sum q * a (q in [0, 15]) times its 6-bit scale, and the mins as
//         sum_s m_s * sum32_s(a) (vpdpwssd over the pairs of sub-blocks i, i + 4). Scales and
//         mins are decoded from Q4_K's 6-bit packing for 16 rows at once per super-block.
//   Q6_K: per 16-element sub-block j, sum (v - 32) * a = dpbusd(-32 * sum16_j(a), v, a)
//         (v in [0, 63]; q8_K's bsums are those sums), times its signed 8-bit scale.
// sum(a) comes with the activations (ActQ8_0S / ActQ8_K32), so every value is exact until the
// single conversion to f32 per block (per super-block for Q4_K).
//
// The F16 kernel (no VNNI needed) reads F16x16 groups (kernels/packed.h: element i of a group's
// rows is 16 f16 values at 32 i). A tile of G groups x T tokens keeps
// one f32 accumulator vector per (group, token), lane r for row r; per element, one conversion
// per group and one broadcast activation per token feed G x T fused multiply-adds. There are no
// horizontal sums: the row kernel (vec_dot_float.cpp) ends every 4 x 4 tile in a 16-way
// reduction, which at the small k of a small model (256) costs about a fifth of its time.
//
// Every (row, token) is summed in element order from zero by fused multiply-adds, as
// packed_gemm_ref does, so the results are the reference's bit for bit and do not depend on the
// tile shape (a token alone or among many, any number of rows). Decode (one token) takes 4
// groups at once so that 4 accumulation chains hide the FMA latency.
#include <immintrin.h>

#include <array>
#include <cstring>
#include <utility>

#include "kernels/packed.h"
#include "kernels/vec_dot.h"

namespace tandem::avx512 {
namespace {

constexpr int kMaxTokens = 8;
constexpr int kMaxTokensK = 6;
constexpr int kMaxTokensQ6 = 8;
// Software prefetch of every cache line this far ahead along a group's stream, in bytes. The
// stream is sequential, but a task starts a new one every few KiB; measured on Zen 4 (2-thread
// matrix x vector): q8_0 29.6 -> 33 GB/s, q4_0 33.9 -> 36 with it. One thread streaming a
// 150 MB matrix (where the core, not the memory, is the limit): 2 KiB ahead q4_0 29.3, q4_K
// 26.8 GB/s; 4 KiB 33.0 / 29.9; 8 KiB no better; 1 KiB 26.9 / 24.3.
constexpr size_t kPrefetchAhead = 4096;

inline int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The 8 unsigned vectors of one 32-element block of 16 rows: vector j holds elements 4j..4j+3
// of every row (j < 4 from low nibbles, j >= 4 elements 16 + 4(j-4).. from high nibbles).
inline void unpack_nibbles(const char* p, __m512i q[8]) {
  const __m512i m = _mm512_set1_epi8(0x0f);
  for (int j = 0; j < 4; ++j) {
    const __m512i v = _mm512_loadu_si512(p + 64 * j);
    q[j] = _mm512_and_si512(v, m);
    q[j + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
  }
}

// sum over the block of q * a for all 16 rows, starting from `init`.
inline __m512i dot_block(__m512i init, const __m512i q[8], const int8_t* a) {
  __m512i s0 = init, s1 = _mm512_setzero_si512();
  for (int j = 0; j < 8; j += 2) {
    s0 = _mm512_dpbusd_epi32(s0, q[j], _mm512_set1_epi32(load_i32(a + 4 * j)));
    s1 = _mm512_dpbusd_epi32(s1, q[j + 1], _mm512_set1_epi32(load_i32(a + 4 * j + 4)));
  }
  return _mm512_add_epi32(s0, s1);
}

inline void store_rows(float* out, __m512 v, int nrows) {
  if (nrows >= kPackRows)
    _mm512_storeu_ps(out, v);
  else
    _mm512_mask_storeu_ps(out, static_cast<__mmask16>((1u << nrows) - 1), v);
}

struct Q4_0x16 {
  static constexpr size_t kBlock = 288;
  static constexpr int kOffset = 8;
  static void weights(const char* p, __m512i q[8]) { unpack_nibbles(p + 32, q); }
};
struct Q8_0x16 {
  static constexpr size_t kBlock = 544;
  static constexpr int kOffset = 128;
  static void weights(const char* p, __m512i q[8]) {
    for (int j = 0; j < 8; ++j) q[j] = _mm512_loadu_si512(p + 32 + 64 * j);
  }
};

// One group (16 rows) x NT tokens of a Q4_0 / Q8_0 matrix.
template <typename F, int NT>
void tile_legacy(int64_t nb, const char* g, const char* act, size_t as, float* out, size_t os, int nrows) {
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const char* p = g + static_cast<size_t>(b) * F::kBlock;
    for (size_t l = 0; l < F::kBlock; l += 64) _mm_prefetch(p + kPrefetchAhead + l, _MM_HINT_T0);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    __m512i q[8];
    F::weights(p, q);
    for (int t = 0; t < NT; ++t) {
      const auto& a = reinterpret_cast<const ActQ8_0S*>(act + static_cast<size_t>(t) * as)[b];
      const __m512i s = dot_block(_mm512_set1_epi32(-F::kOffset * a.sum), q, a.qs);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(a.d)), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) store_rows(out + static_cast<size_t>(t) * os, acc[t], nrows);
}

// One group x NT tokens of a Q4_K matrix.
template <int NT>
void tile_q4_k(int64_t nb, const char* g, const char* act, size_t as, float* out, size_t os, int nrows) {
  constexpr size_t kBlock = 2304, kHeader = 256, kSub = 256;
  const __m512i m3f = _mm512_set1_epi8(0x3f), m0f = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const char* p = g + static_cast<size_t>(b) * kBlock;
    // The header lines here, each sub-block's lines below: together the whole super-block.
    for (size_t l = 0; l < kHeader; l += 64) _mm_prefetch(p + kPrefetchAhead + l, _MM_HINT_T0);
    // Byte j of the 12 of each row, 16 rows per 128 bits: b0 = bytes 0-3, b1 = 4-7, b2 = 8-11.
    // Sub-block s < 4: scale b[s] & 63, min b[s + 4] & 63; s >= 4: scale b[s + 4] & 15 |
    // (b[s - 4] >> 6) << 4, min b[s + 4] >> 4 | (b[s] >> 6) << 4. (0xf8: a | (b & c).)
    const __m512i b0 = _mm512_loadu_si512(p + 64), b1 = _mm512_loadu_si512(p + 128);
    const __m512i b2 = _mm512_loadu_si512(p + 192);
    alignas(64) uint8_t sc8[2][64];  // scale of sub-block s, row r at [s / 4][16 * (s % 4) + r]
    _mm512_store_si512(sc8[0], _mm512_and_si512(b0, m3f));
    _mm512_store_si512(sc8[1], _mm512_ternarylogic_epi32(_mm512_and_si512(b2, m0f), _mm512_srli_epi16(b0, 2), m30, 0xf8));
    const __m512i m_lo = _mm512_and_si512(b1, m3f);
    const __m512i m_hi = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(b2, 4), m0f),
                                                   _mm512_srli_epi16(b1, 2), m30, 0xf8);
    // Pairs (min of sub-block i, of i + 4) per row: 128-bit lane i of pr[0] rows 0-7, of pr[1] 8-15.
    alignas(64) uint8_t pr[2][64];
    _mm512_store_si512(pr[0], _mm512_unpacklo_epi8(m_lo, m_hi));
    _mm512_store_si512(pr[1], _mm512_unpackhi_epi8(m_lo, m_hi));
    __m512i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
    for (int s = 0; s < 8; ++s) {
      const char* qp = p + kHeader + s * kSub;
      for (size_t l = 0; l < kSub; l += 64) _mm_prefetch(qp + kPrefetchAhead + l, _MM_HINT_T0);
      const __m512i sc = _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(sc8[s / 4] + 16 * (s % 4))));
      __m512i q[8];
      unpack_nibbles(qp, q);
      for (int t = 0; t < NT; ++t) {
        const auto& a = reinterpret_cast<const ActQ8_K32*>(act + static_cast<size_t>(t) * as)[b];
        const __m512i ip = dot_block(_mm512_setzero_si512(), q, a.qs + 32 * s);
        isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(ip, sc));
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    const __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)));
    __m512i mins[4];
    for (int i = 0; i < 4; ++i)
      mins[i] = _mm512_cvtepu8_epi16(_mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(pr[1] + 16 * i),
                                                         reinterpret_cast<const __m128i*>(pr[0] + 16 * i)));
    for (int t = 0; t < NT; ++t) {
      const auto& a = reinterpret_cast<const ActQ8_K32*>(act + static_cast<size_t>(t) * as)[b];
      __m512i ms = _mm512_setzero_si512();
      for (int i = 0; i < 4; ++i) ms = _mm512_dpwssd_epi32(ms, mins[i], _mm512_set1_epi32(load_i32(a.sum32 + 2 * i)));
      const __m512 da = _mm512_set1_ps(a.d);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dw, da), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_mul_ps(dm, da), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) store_rows(out + static_cast<size_t>(t) * os, acc[t], nrows);
}

// One group x NT tokens of a Q6_K matrix.
template <int NT>
void tile_q6_k(int64_t nb, const char* g, const char* act, size_t as, float* out, size_t os, int nrows) {
  constexpr size_t kBlock = 3360, kHeader = 288, kSub = 192;
  const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const char* p = g + static_cast<size_t>(b) * kBlock;
    for (size_t l = 0; l < kHeader; l += 64) _mm_prefetch(p + kPrefetchAhead + l, _MM_HINT_T0);
    __m512i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
    for (int j = 0; j < 16; ++j) {
      const char* qp = p + kHeader + j * kSub;
      for (size_t l = 0; l < kSub; l += 64) _mm_prefetch(qp + kPrefetchAhead + l, _MM_HINT_T0);
      const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32 + 16 * j)));
      const __m512i lo01 = _mm512_loadu_si512(qp), lo23 = _mm512_loadu_si512(qp + 64);
      const __m512i hi = _mm512_loadu_si512(qp + 128);
      // v = low 4 bits | (top 2 bits << 4): ternary logic 0xf8 is a | (b & c).
      __m512i q[4];
      q[0] = _mm512_ternarylogic_epi32(_mm512_and_si512(lo01, m4), _mm512_slli_epi16(hi, 4), m30, 0xf8);
      q[1] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(lo01, 4), m4), _mm512_slli_epi16(hi, 2),
                                       m30, 0xf8);
      q[2] = _mm512_ternarylogic_epi32(_mm512_and_si512(lo23, m4), hi, m30, 0xf8);
      q[3] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(lo23, 4), m4), _mm512_srli_epi16(hi, 2),
                                       m30, 0xf8);
      for (int t = 0; t < NT; ++t) {
        const auto& a = reinterpret_cast<const BlockQ8_K*>(act + static_cast<size_t>(t) * as)[b];
        const int8_t* aq = a.qs + 16 * j;
        __m512i s0 = _mm512_set1_epi32(-32 * a.bsums[j]);
        __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[1], _mm512_set1_epi32(load_i32(aq + 4)));
        s0 = _mm512_dpbusd_epi32(s0, q[0], _mm512_set1_epi32(load_i32(aq)));
        s0 = _mm512_dpbusd_epi32(s0, q[2], _mm512_set1_epi32(load_i32(aq + 8)));
        s1 = _mm512_dpbusd_epi32(s1, q[3], _mm512_set1_epi32(load_i32(aq + 12)));
        isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(_mm512_add_epi32(s0, s1), sc));
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    for (int t = 0; t < NT; ++t) {
      const auto& a = reinterpret_cast<const BlockQ8_K*>(act + static_cast<size_t>(t) * as)[b];
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dw, _mm512_set1_ps(a.d)), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) store_rows(out + static_cast<size_t>(t) * os, acc[t], nrows);
}

using TileFn = void (*)(int64_t, const char*, const char*, size_t, float*, size_t, int);

template <typename F, int... I>
constexpr std::array<TileFn, sizeof...(I)> legacy_tiles(std::integer_sequence<int, I...>) {
  return {&tile_legacy<F, I + 1>...};
}
template <int... I>
constexpr std::array<TileFn, sizeof...(I)> k_tiles(std::integer_sequence<int, I...>) {
  return {&tile_q4_k<I + 1>...};
}

template <int... I>
constexpr std::array<TileFn, sizeof...(I)> q6_k_tiles(std::integer_sequence<int, I...>) {
  return {&tile_q6_k<I + 1>...};
}

template <typename Tiles, int MaxT, int64_t BlockElems>
void gemm_groups(const Tiles& tiles, int64_t k, const void* w, size_t w_stride, int nr, const void* act,
                 size_t act_stride, int nt, float* out, size_t out_stride) {
  const size_t gbytes = kPackRows * w_stride;
  const auto* wp = static_cast<const char*>(w);
  const auto* ap = static_cast<const char*>(act);
  for (int t = 0; t < nt; t += MaxT) {
    const int mt = nt - t < MaxT ? nt - t : MaxT;
    for (int r = 0; r < nr; r += kPackRows) {
      tiles[mt - 1](k / BlockElems, wp + static_cast<size_t>(r / kPackRows) * gbytes,
                    ap + static_cast<size_t>(t) * act_stride, act_stride,
                    out + static_cast<size_t>(t) * out_stride + r, out_stride, nr - r);
    }
  }
}

constexpr auto kQ4_0Tiles = legacy_tiles<Q4_0x16>(std::make_integer_sequence<int, kMaxTokens>{});
constexpr auto kQ8_0Tiles = legacy_tiles<Q8_0x16>(std::make_integer_sequence<int, kMaxTokens>{});
constexpr auto kQ4_KTiles = k_tiles(std::make_integer_sequence<int, kMaxTokensK>{});
constexpr auto kQ6_KTiles = q6_k_tiles(std::make_integer_sequence<int, kMaxTokensQ6>{});

void gemm_q4_0(int64_t k, const void* w, size_t ws, int nr, const void* act, size_t as, int nt, float* out, size_t os) {
  gemm_groups<decltype(kQ4_0Tiles), kMaxTokens, kQK>(kQ4_0Tiles, k, w, ws, nr, act, as, nt, out, os);
}
void gemm_q8_0(int64_t k, const void* w, size_t ws, int nr, const void* act, size_t as, int nt, float* out, size_t os) {
  gemm_groups<decltype(kQ8_0Tiles), kMaxTokens, kQK>(kQ8_0Tiles, k, w, ws, nr, act, as, nt, out, os);
}
void gemm_q4_k(int64_t k, const void* w, size_t ws, int nr, const void* act, size_t as, int nt, float* out, size_t os) {
  gemm_groups<decltype(kQ4_KTiles), kMaxTokensK, kQK_K>(kQ4_KTiles, k, w, ws, nr, act, as, nt, out, os);
}

void gemm_q6_k(int64_t k, const void* w, size_t ws, int nr, const void* act, size_t as, int nt, float* out, size_t os) {
  gemm_groups<decltype(kQ6_KTiles), kMaxTokensQ6, kQK_K>(kQ6_KTiles, k, w, ws, nr, act, as, nt, out, os);
}

// ---- F16x16 ----


constexpr int kMaxTokensF16 = 12;  // tokens per tile with 2 groups: 24 accumulators
constexpr size_t kF16ElemBytes = 2 * kPackRows;

// G groups (gbytes apart, starting at w) x T tokens (act rows `as` bytes apart) over k
// elements; nrows: the rows left from the first group on (the last group may be partial).
template <int G, int T>
void tile_f16(int64_t k, const char* w, size_t gbytes, const char* act, size_t as, float* out, size_t os, int nrows) {
  // GCC keeps the accumulators in registers only if every loop over them is unrolled.
  __m512 acc[G * T];
#pragma GCC unroll 32
  for (int j = 0; j < G * T; ++j) acc[j] = _mm512_setzero_ps();
  const float* a[T];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const float*>(act + static_cast<size_t>(t) * as);
  for (int64_t i = 0; i < k; ++i) {
    __m512 wv[G];
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const char* p = w + static_cast<size_t>(g) * gbytes + static_cast<size_t>(i) * kF16ElemBytes;
      if ((i & 1) == 0) _mm_prefetch(p + kPrefetchAhead, _MM_HINT_T0);  // one line per 2 elements
      wv[g] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const __m512 av = _mm512_set1_ps(a[t][i]);
#pragma GCC unroll 8
      for (int g = 0; g < G; ++g) acc[g * T + t] = _mm512_fmadd_ps(wv[g], av, acc[g * T + t]);
    }
  }
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t)
      store_rows(out + static_cast<size_t>(t) * os + g * kPackRows, acc[g * T + t], nrows - g * kPackRows);
}

using F16TileFn = void (*)(int64_t, const char*, size_t, const char*, size_t, float*, size_t, int);

template <int G, int... I>
constexpr std::array<F16TileFn, sizeof...(I)> f16_tiles(std::integer_sequence<int, I...>) {
  return {&tile_f16<G, I + 1>...};
}
// [groups per tile: 1, 2, 4][tokens - 1]
constexpr auto kF16Tiles1 = f16_tiles<1>(std::make_integer_sequence<int, kMaxTokensF16>{});
constexpr auto kF16Tiles2 = f16_tiles<2>(std::make_integer_sequence<int, kMaxTokensF16>{});
constexpr auto kF16Tiles4 = f16_tiles<4>(std::make_integer_sequence<int, 6>{});

void gemm_f16(int64_t k, const void* w, size_t w_stride, int nr, const void* act, size_t as, int nt, float* out,
              size_t os) {
  const size_t gbytes = kPackRows * w_stride;
  const auto* wp = static_cast<const char*>(w);
  const auto* ap = static_cast<const char*>(act);
  const int groups = (nr + kPackRows - 1) / kPackRows;
  for (int t = 0; t < nt; t += kMaxTokensF16) {
    const int mt = nt - t < kMaxTokensF16 ? nt - t : kMaxTokensF16;
    const char* at = ap + static_cast<size_t>(t) * as;
    float* ot = out + static_cast<size_t>(t) * os;
    int g = 0;
    // Few tokens: 4 groups at once, so that at least 4 accumulators are in flight.
    if (mt <= 2)
      for (; g + 4 <= groups; g += 4)
        kF16Tiles4[mt - 1](k, wp + static_cast<size_t>(g) * gbytes, gbytes, at, as, ot + g * kPackRows, os,
                        nr - g * kPackRows);
    for (; g + 2 <= groups; g += 2)
      kF16Tiles2[mt - 1](k, wp + static_cast<size_t>(g) * gbytes, gbytes, at, as, ot + g * kPackRows, os,
                      nr - g * kPackRows);
    for (; g < groups; ++g)
      kF16Tiles1[mt - 1](k, wp + static_cast<size_t>(g) * gbytes, gbytes, at, as, ot + g * kPackRows, os,
                      nr - g * kPackRows);
  }
}

}  // namespace

void register_gemm_packed(VecDotTable& t) {
  t.packed[static_cast<size_t>(DType::Q4_0)] = {quantize_row_q8_0s<Isa::Avx512>, gemm_q4_0, kMaxTokens};
  t.packed[static_cast<size_t>(DType::Q8_0)] = {quantize_row_q8_0s<Isa::Avx512>, gemm_q8_0, kMaxTokens};
  t.packed[static_cast<size_t>(DType::Q4_K)] = {quantize_row_q8_k32<Isa::Avx512>, gemm_q4_k, kMaxTokensK};
  t.packed[static_cast<size_t>(DType::Q6_K)] = {quantize_row_q8_k<Isa::Avx512>, gemm_q6_k, kMaxTokensQ6};
  t.packed[static_cast<size_t>(DType::F16)] = {copy_row_f32, gemm_f16, kMaxTokensF16};
}

}  // namespace tandem::avx512
