// AVX2 + FMA + F16C: F32 / F16 / BF16 weights . F32 activations: one token against up to 4 rows
// at once sharing the activation loads, several tokens in tiles of 4 rows x 3 tokens (each
// weight vector converted once for 3 tokens). Differs from the scalar reference only in
// summation order, and every tile shape sums in the same order, so gemm and dot agree bit for bit.
#include <immintrin.h>

#include "kernels/x86/simd_util.h"

#include "core/half.h"
#include "kernels/vec_dot.h"

namespace tandem::avx2 {
namespace {

constexpr int kMaxRows = 4;
constexpr int kPairTokens = 2;  // the smaller tiles of the remainder

using x86::hsum;
using x86::hsum4;

// Loaders: 8 weights starting at element i of a row, as f32.
struct LoadF32 {
  static constexpr int kBytes = 4;
  static __m256 load(const void* p, int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(p) + i); }
  static float one(const void* p, int64_t i) { return static_cast<const float*>(p)[i]; }
};
struct LoadF16 {
  static constexpr int kBytes = 2;
  static __m256 load(const void* p, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i)));
  }
  static float one(const void* p, int64_t i) { return fp16_to_fp32(static_cast<const uint16_t*>(p)[i]); }
};
struct LoadBF16 {
  static constexpr int kBytes = 2;
  static __m256 load(const void* p, int64_t i) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float one(const void* p, int64_t i) { return bf16_to_fp32(static_cast<const uint16_t*>(p)[i]); }
};

// out[t * os + r] = hsum(lo[r][t] + hi[r][t]) plus the scalar tail from element `from` on: four
// rows at once when there is no tail. Every tile ends here, so all sum in the same order.
template <typename L, int NR, int NT>
__attribute__((always_inline)) inline void store_sums(int64_t k, int64_t from, const char* w, size_t ws, const char* act,
                                                      size_t as, const __m256 (&lo)[NR][NT], const __m256 (&hi)[NR][NT],
                                                      float* out, size_t os) {
  if constexpr (NR == 4) {
    if (from == k) {
#pragma GCC unroll 8
      for (int t = 0; t < NT; ++t)
        _mm_storeu_ps(out + static_cast<size_t>(t) * os,
                      hsum4(_mm256_add_ps(lo[0][t], hi[0][t]), _mm256_add_ps(lo[1][t], hi[1][t]),
                            _mm256_add_ps(lo[2][t], hi[2][t]), _mm256_add_ps(lo[3][t], hi[3][t])));
      return;
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) {
    const auto* a = reinterpret_cast<const float*>(act + static_cast<size_t>(t) * as);
#pragma GCC unroll 8
    for (int r = 0; r < NR; ++r) {
      const char* row = w + static_cast<size_t>(r) * ws;
      float s = hsum(_mm256_add_ps(lo[r][t], hi[r][t]));
      for (int64_t j = from; j < k; ++j) s += L::one(row, j) * a[j];
      out[static_cast<size_t>(t) * os + static_cast<size_t>(r)] = s;
    }
  }
}

// [NR rows][k] weights (row r at w + r * ws bytes) . [NT][k] f32 activations (token t at act + t *
// as bytes) -> out[t * os + r]. Each (row, token) sums the even and the odd 8-element steps in
// two accumulators, adds them, then the scalar tail: the same order whatever NR and NT, so dot
// and gemm agree bit for bit. Each row prefetches (into L2) the same place 2 * NR rows further on.
template <typename L, int NR, int NT>
void tile(int64_t k, const char* w, size_t ws, const char* act, size_t as, float* out, size_t os) {
  // The pragmas unroll every loop over rows and tokens early, so GCC keeps the accumulators in
  // registers (otherwise it stores them all on every step).
  __m256 acc0[NR][NT], acc1[NR][NT];
#pragma GCC unroll 8
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) acc0[r][t] = acc1[r][t] = _mm256_setzero_ps();
  auto a_at = [&](int t, int64_t i) { return _mm256_loadu_ps(reinterpret_cast<const float*>(act + static_cast<size_t>(t) * as) + i); };
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    __m256 w0[NR], w1[NR];
#pragma GCC unroll 8
    for (int r = 0; r < NR; ++r) {
      const char* row = w + static_cast<size_t>(r) * ws;
      for (int o = 0; o < 16 * L::kBytes; o += 64) _mm_prefetch(row + 2 * NR * ws + i * L::kBytes + o, _MM_HINT_T1);
      w0[r] = L::load(row, i);
      w1[r] = L::load(row, i + 8);
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
      const __m256 a0 = a_at(t, i), a1 = a_at(t, i + 8);
#pragma GCC unroll 8
      for (int r = 0; r < NR; ++r) {
        acc0[r][t] = _mm256_fmadd_ps(w0[r], a0, acc0[r][t]);
        acc1[r][t] = _mm256_fmadd_ps(w1[r], a1, acc1[r][t]);
      }
    }
  }
  if (i + 8 <= k) {
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
      const __m256 a0 = a_at(t, i);
#pragma GCC unroll 8
      for (int r = 0; r < NR; ++r)
        acc0[r][t] = _mm256_fmadd_ps(L::load(w + static_cast<size_t>(r) * ws, i), a0, acc0[r][t]);
    }
    i += 8;
  }
  store_sums<L, NR, NT>(k, i, w, ws, act, as, acc0, acc1, out, os);
}

// Rows [0, nr) of one token in tiles of kMaxRows rows.
template <typename L>
void rows_1(int64_t k, const char* w, size_t ws, int nr, const char* act, float* out) {
  int r = 0;
  for (; r + kMaxRows <= nr; r += kMaxRows) tile<L, kMaxRows, 1>(k, w + static_cast<size_t>(r) * ws, ws, act, 0, out + r, 0);
  switch (nr - r) {
    case 3: tile<L, 3, 1>(k, w + static_cast<size_t>(r) * ws, ws, act, 0, out + r, 0); break;
    case 2: tile<L, 2, 1>(k, w + static_cast<size_t>(r) * ws, ws, act, 0, out + r, 0); break;
    case 1: tile<L, 1, 1>(k, w + static_cast<size_t>(r) * ws, ws, act, 0, out + r, 0); break;
    default: break;
  }
}

template <typename L>
void dot(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out) {
  rows_1<L>(k, static_cast<const char*>(w), w_stride, nr, static_cast<const char*>(act), out);
}

// One parity of a tile's sums: acc[r][t] = the fused multiply-adds over the 8-element steps j
// = parity, parity + 2, ... in order -- exactly the chain `tile` keeps in acc0 (even steps) or
// acc1 (odd steps). Only one of the two chains is live at a time, so a tile of NR x NT needs NR
// x NT accumulators: 4 x 3 leaves room for the 3 activation vectors and one weight vector.
template <typename L, int NR, int NT>
__attribute__((always_inline)) inline void tile_parity(int64_t n8, int parity, const char* w, size_t ws, const char* act, size_t as, __m256 (&res)[NR][NT]) {
  // Local accumulators, copied out at the end (through the reference GCC stores every step).
  __m256 acc[NR][NT];
#pragma GCC unroll 8
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t j = parity; j < n8; j += 2) {
    const int64_t i = j * 8;
    __m256 a[NT];
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) a[t] = _mm256_loadu_ps(reinterpret_cast<const float*>(act + static_cast<size_t>(t) * as) + i);
#pragma GCC unroll 8
    for (int r = 0; r < NR; ++r) {
      const __m256 wv = L::load(w + static_cast<size_t>(r) * ws, i);
#pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_fmadd_ps(wv, a[t], acc[r][t]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) res[r][t] = acc[r][t];
}

// NR rows x NT tokens, the same result as `tile` bit for bit: the even chain, then the odd one,
// then hsum(even + odd) and the scalar tail.
template <typename L, int NR, int NT>
void tile_two_pass(int64_t k, const char* w, size_t ws, const char* act, size_t as, float* out, size_t os) {
  const int64_t n8 = k / 8;
  __m256 even[NR][NT], odd[NR][NT];
  tile_parity<L, NR, NT>(n8, 0, w, ws, act, as, even);
  tile_parity<L, NR, NT>(n8, 1, w, ws, act, as, odd);
  store_sums<L, NR, NT>(k, n8 * 8, w, ws, act, as, even, odd, out, os);
}

constexpr int kGemmRows = 4;
constexpr int kGemmTokens = 3;

// Several tokens: tiles of 4 rows x 3 tokens (each weight vector converted once for 3 tokens),
// the rest in the smaller tiles above.
template <typename L>
void gemm(int64_t k, const void* w, size_t w_stride, int nr, const void* act, size_t act_stride, int nt, float* out,
          size_t out_stride) {
  const auto* wp = static_cast<const char*>(w);
  const auto* ap = static_cast<const char*>(act);
  int t = 0;
  for (; t + kGemmTokens <= nt; t += kGemmTokens) {
    const char* at = ap + static_cast<size_t>(t) * act_stride;
    float* ot = out + static_cast<size_t>(t) * out_stride;
    int r = 0;
    for (; r + kGemmRows <= nr; r += kGemmRows)
      tile_two_pass<L, kGemmRows, kGemmTokens>(k, wp + static_cast<size_t>(r) * w_stride, w_stride, at, act_stride,
                                               ot + r, out_stride);
    for (; r < nr; ++r)
      tile_two_pass<L, 1, kGemmTokens>(k, wp + static_cast<size_t>(r) * w_stride, w_stride, at, act_stride, ot + r,
                                       out_stride);
  }
  for (; t + kPairTokens <= nt; t += kPairTokens) {
    const char* at = ap + static_cast<size_t>(t) * act_stride;
    float* ot = out + static_cast<size_t>(t) * out_stride;
    int r = 0;
    for (; r + 2 <= nr; r += 2)
      tile<L, 2, 2>(k, wp + static_cast<size_t>(r) * w_stride, w_stride, at, act_stride, ot + r, out_stride);
    if (r < nr) tile<L, 1, 2>(k, wp + static_cast<size_t>(r) * w_stride, w_stride, at, act_stride, ot + r, out_stride);
  }
  if (t < nt) rows_1<L>(k, wp, w_stride, nr, ap + static_cast<size_t>(t) * act_stride, out + static_cast<size_t>(t) * out_stride);
}

}  // namespace

void register_vec_dot_float(VecDotTable& t) {
  t.by_weight[static_cast<size_t>(DType::F32)] = VecDotKernel{DType::F32, dot<LoadF32>, kMaxRows, gemm<LoadF32>, kGemmTokens};
  t.by_weight[static_cast<size_t>(DType::F16)] = VecDotKernel{DType::F32, dot<LoadF16>, kMaxRows, gemm<LoadF16>, kGemmTokens};
  t.by_weight[static_cast<size_t>(DType::BF16)] = VecDotKernel{DType::F32, dot<LoadBF16>, kMaxRows, gemm<LoadBF16>, kGemmTokens};
}

}  // namespace tandem::avx2
