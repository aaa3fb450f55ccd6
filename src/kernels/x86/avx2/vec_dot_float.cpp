// AVX2 + FMA + F16C: F32 / F16 / BF16 weights . F32 activations, up to 4 rows at once sharing
// the activation loads. Differs from the scalar reference only in summation order.
#include <immintrin.h>

#include "kernels/x86/simd_util.h"

#include "core/half.h"
#include "kernels/vec_dot.h"

namespace tandem::avx2 {
namespace {

constexpr int kMaxRows = 4;

using x86::hsum;

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

// [NR rows][k] weights (row r at w + r * w_stride bytes) . [k] f32 -> out[NR]. Each row
// prefetches (into L2) the same place 2 * NR rows further on: two chunks of rows ahead.
template <typename L, int NR>
void dot_nr(int64_t k, const char* w, size_t w_stride, const float* a, float* out) {
  // The pragmas unroll every loop over rows early, so GCC keeps the accumulators in registers
  // (otherwise it stores them all on every step).
  __m256 acc0[NR], acc1[NR];
#pragma GCC unroll 8
  for (int r = 0; r < NR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m256 a0 = _mm256_loadu_ps(a + i);
    const __m256 a1 = _mm256_loadu_ps(a + i + 8);
  #pragma GCC unroll 8
  for (int r = 0; r < NR; ++r) {
      const char* row = w + static_cast<size_t>(r) * w_stride;
      for (int o = 0; o < 16 * L::kBytes; o += 64) _mm_prefetch(row + 2 * NR * w_stride + i * L::kBytes + o, _MM_HINT_T1);
      acc0[r] = _mm256_fmadd_ps(L::load(row, i), a0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(L::load(row, i + 8), a1, acc1[r]);
    }
  }
  for (; i + 8 <= k; i += 8) {
    const __m256 a0 = _mm256_loadu_ps(a + i);
  #pragma GCC unroll 8
  for (int r = 0; r < NR; ++r)
      acc0[r] = _mm256_fmadd_ps(L::load(w + static_cast<size_t>(r) * w_stride, i), a0, acc0[r]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < NR; ++r) {
    const char* row = w + static_cast<size_t>(r) * w_stride;
    float s = hsum(_mm256_add_ps(acc0[r], acc1[r]));
    for (int64_t j = i; j < k; ++j) s += L::one(row, j) * a[j];
    out[r] = s;
  }
}

template <typename L>
void dot(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out) {
  const auto* a = static_cast<const float*>(act);
  const auto* p = static_cast<const char*>(w);
  int r = 0;
  for (; r + kMaxRows <= nr; r += kMaxRows)
    dot_nr<L, kMaxRows>(k, p + static_cast<size_t>(r) * w_stride, w_stride, a, out + r);
  switch (nr - r) {
    case 3: dot_nr<L, 3>(k, p + static_cast<size_t>(r) * w_stride, w_stride, a, out + r); break;
    case 2: dot_nr<L, 2>(k, p + static_cast<size_t>(r) * w_stride, w_stride, a, out + r); break;
    case 1: dot_nr<L, 1>(k, p + static_cast<size_t>(r) * w_stride, w_stride, a, out + r); break;
    default: break;
  }
}

}  // namespace

void register_vec_dot_float(VecDotTable& t) {
  t.by_weight[static_cast<size_t>(DType::F32)] = VecDotKernel{DType::F32, dot<LoadF32>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::F16)] = VecDotKernel{DType::F32, dot<LoadF16>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::BF16)] = VecDotKernel{DType::F32, dot<LoadBF16>, kMaxRows};
}

}  // namespace tandem::avx2
