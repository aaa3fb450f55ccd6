// AVX-512 kernel over F16 weights repacked in groups of 16 rows (kernels/packed.h, F16x16:
// element i of the group's rows is 16 f16 values at 32 i). A tile of G groups x T tokens keeps
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
#include <utility>

#include "kernels/packed.h"
#include "kernels/vec_dot.h"

namespace tandem::avx512 {
namespace {

constexpr int kMaxTokens = 12;       // tokens per tile with 2 groups: 24 accumulators
constexpr size_t kElemBytes = 2 * kPackRows;
// Prefetch distance along each group's stream (as the integer packed kernels).
constexpr size_t kPrefetchAhead = 4096;

inline void store_rows(float* out, __m512 v, int nrows) {
  if (nrows >= kPackRows)
    _mm512_storeu_ps(out, v);
  else
    _mm512_mask_storeu_ps(out, static_cast<__mmask16>((1u << nrows) - 1), v);
}

// G groups (gbytes apart, starting at w) x T tokens (act rows `as` bytes apart) over k
// elements; nrows: the rows left from the first group on (the last group may be partial).
template <int G, int T>
void tile(int64_t k, const char* w, size_t gbytes, const char* act, size_t as, float* out, size_t os, int nrows) {
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
      const char* p = w + static_cast<size_t>(g) * gbytes + static_cast<size_t>(i) * kElemBytes;
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

using TileFn = void (*)(int64_t, const char*, size_t, const char*, size_t, float*, size_t, int);

template <int G, int... I>
constexpr std::array<TileFn, sizeof...(I)> tiles_of(std::integer_sequence<int, I...>) {
  return {&tile<G, I + 1>...};
}
// [groups per tile: 1, 2, 4][tokens - 1]
constexpr auto kTiles1 = tiles_of<1>(std::make_integer_sequence<int, kMaxTokens>{});
constexpr auto kTiles2 = tiles_of<2>(std::make_integer_sequence<int, kMaxTokens>{});
constexpr auto kTiles4 = tiles_of<4>(std::make_integer_sequence<int, 6>{});

void gemm_f16(int64_t k, const void* w, size_t w_stride, int nr, const void* act, size_t as, int nt, float* out,
              size_t os) {
  const size_t gbytes = kPackRows * w_stride;
  const auto* wp = static_cast<const char*>(w);
  const auto* ap = static_cast<const char*>(act);
  const int groups = (nr + kPackRows - 1) / kPackRows;
  for (int t = 0; t < nt; t += kMaxTokens) {
    const int mt = nt - t < kMaxTokens ? nt - t : kMaxTokens;
    const char* at = ap + static_cast<size_t>(t) * as;
    float* ot = out + static_cast<size_t>(t) * os;
    int g = 0;
    // Few tokens: 4 groups at once, so that at least 4 accumulators are in flight.
    if (mt <= 2)
      for (; g + 4 <= groups; g += 4)
        kTiles4[mt - 1](k, wp + static_cast<size_t>(g) * gbytes, gbytes, at, as, ot + g * kPackRows, os,
                        nr - g * kPackRows);
    for (; g + 2 <= groups; g += 2)
      kTiles2[mt - 1](k, wp + static_cast<size_t>(g) * gbytes, gbytes, at, as, ot + g * kPackRows, os,
                      nr - g * kPackRows);
    for (; g < groups; ++g)
      kTiles1[mt - 1](k, wp + static_cast<size_t>(g) * gbytes, gbytes, at, as, ot + g * kPackRows, os,
                      nr - g * kPackRows);
  }
}

}  // namespace

void register_gemm_packed_f16(VecDotTable& t) {
  t.packed[static_cast<size_t>(DType::F16)] = {copy_row_f32, gemm_f16, kMaxTokens};
}

}  // namespace tandem::avx512
