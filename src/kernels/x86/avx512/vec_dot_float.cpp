// AVX-512: F32 / F16 / BF16 weights . F32 activations, up to 4 rows at once sharing the
// activation loads, masked tails. With AVX512-BF16 the BF16 kernel instead takes BF16
// activations (converted once per row by quantize_bf16, round to nearest even) and uses
// vdpbf16ps: its results differ from the F32-activation reference by the activation rounding
// (relative 2^-9 per element) plus summation order.

#include <immintrin.h>

#include "core/half.h"
#include "kernels/vec_dot.h"

namespace tandem::avx512 {
namespace {

constexpr int kMaxRows = 4;

// Loaders: 16 weights starting at element i of a row as f32; the masked form zero-fills.
struct LoadF32 {
  static constexpr int kBytes = 4;
  static __m512 load(const void* p, int64_t i) { return _mm512_loadu_ps(static_cast<const float*>(p) + i); }
  static __m512 load(const void* p, int64_t i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
  }
};
struct LoadF16 {
  static constexpr int kBytes = 2;
  static __m512 load(const void* p, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + i)));
  }
  static __m512 load(const void* p, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
  }
};
struct LoadBF16 {
  static constexpr int kBytes = 2;
  static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static __m512 load(const void* p, int64_t i) {
    return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + i)));
  }
  static __m512 load(const void* p, int64_t i, __mmask16 m) {
    return widen(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
  }
};

// [NR rows][k] weights (row r at w + r * w_stride bytes) . [k] f32 -> out[NR]. Each row
// prefetches (into L2) the same place 2 * NR rows further on: two chunks of rows ahead.
template <typename L, int NR>
void dot_nr(int64_t k, const char* w, size_t w_stride, const float* a, float* out) {
  __m512 acc0[NR], acc1[NR];
  for (int r = 0; r < NR; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    const __m512 a0 = _mm512_loadu_ps(a + i);
    const __m512 a1 = _mm512_loadu_ps(a + i + 16);
    for (int r = 0; r < NR; ++r) {
      const char* row = w + static_cast<size_t>(r) * w_stride;
      for (int o = 0; o < 32 * L::kBytes; o += 64) _mm_prefetch(row + 2 * NR * w_stride + i * L::kBytes + o, _MM_HINT_T1);
      acc0[r] = _mm512_fmadd_ps(L::load(row, i), a0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(L::load(row, i + 16), a1, acc1[r]);
    }
  }
  for (; i < k; i += 16) {
    const __mmask16 m = k - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (k - i)) - 1);
    const __m512 a0 = _mm512_maskz_loadu_ps(m, a + i);
    for (int r = 0; r < NR; ++r)
      acc0[r] = _mm512_fmadd_ps(L::load(w + static_cast<size_t>(r) * w_stride, i, m), a0, acc0[r]);
  }
  for (int r = 0; r < NR; ++r) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
}

// [NR rows][k] bf16 . [k] bf16 -> out[NR], 32 products per vdpbf16ps.
template <int NR>
void dot_bf16_nr(int64_t k, const char* w, size_t w_stride, const uint16_t* a, float* out) {
  __m512 acc[NR];
  for (int r = 0; r < NR; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t i = 0; i < k; i += 32) {
    const __mmask32 m = k - i >= 32 ? __mmask32(0xffffffffu) : __mmask32((1u << (k - i)) - 1);
    const __m512i av = _mm512_maskz_loadu_epi16(m, a + i);
    for (int r = 0; r < NR; ++r) {
      const auto* row = reinterpret_cast<const uint16_t*>(w + static_cast<size_t>(r) * w_stride);
      const __m512i wv = _mm512_maskz_loadu_epi16(m, row + i);
      acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)wv, (__m512bh)av);
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
}

template <typename L>
void dot(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out) {
  const auto* a = static_cast<const float*>(act);
  const auto* p = static_cast<const char*>(w);
  int r = 0;
  for (; r + kMaxRows <= nr; r += kMaxRows)
    dot_nr<L, kMaxRows>(k, p + static_cast<size_t>(r) * w_stride, w_stride, a, out + r);
  const char* rest = p + static_cast<size_t>(r) * w_stride;
  switch (nr - r) {
    case 3: dot_nr<L, 3>(k, rest, w_stride, a, out + r); break;
    case 2: dot_nr<L, 2>(k, rest, w_stride, a, out + r); break;
    case 1: dot_nr<L, 1>(k, rest, w_stride, a, out + r); break;
    default: break;
  }
}

void dot_bf16_bf16(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out) {
  const auto* a = static_cast<const uint16_t*>(act);
  const auto* p = static_cast<const char*>(w);
  int r = 0;
  for (; r + kMaxRows <= nr; r += kMaxRows)
    dot_bf16_nr<kMaxRows>(k, p + static_cast<size_t>(r) * w_stride, w_stride, a, out + r);
  const char* rest = p + static_cast<size_t>(r) * w_stride;
  switch (nr - r) {
    case 3: dot_bf16_nr<3>(k, rest, w_stride, a, out + r); break;
    case 2: dot_bf16_nr<2>(k, rest, w_stride, a, out + r); break;
    case 1: dot_bf16_nr<1>(k, rest, w_stride, a, out + r); break;
    default: break;
  }
}

// f32 -> bf16, round to nearest even, NaN kept quiet: the same bits as fp32_to_bf16 (done
// in integers, so denormals are not flushed as vcvtneps2bf16 would).
void quantize_bf16(const float* x, void* dst, int64_t k) {
  auto* y = static_cast<uint16_t*>(dst);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000);
  for (int64_t i = 0; i < k; i += 16) {
    const __mmask16 m = k - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (k - i)) - 1);
    const __m512i v = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(v, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(v, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(v, abs_mask), inf);
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(v, 16), _mm512_set1_epi32(0x40));
    _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtepi32_epi16(r));
  }
}

}  // namespace

void register_vec_dot_float(VecDotTable& t) {
  t.by_weight[static_cast<size_t>(DType::F32)] = VecDotKernel{DType::F32, dot<LoadF32>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::F16)] = VecDotKernel{DType::F32, dot<LoadF16>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::BF16)] = VecDotKernel{DType::F32, dot<LoadBF16>, kMaxRows};
  if (cpu_has_avx512_bf16()) {
    t.by_weight[static_cast<size_t>(DType::BF16)] = VecDotKernel{DType::BF16, dot_bf16_bf16, kMaxRows};
    t.act_quantize[static_cast<size_t>(DType::BF16)] = quantize_bf16;
  }
}

}  // namespace tandem::avx512
