// AVX-512 VNNI: Q8_0 and Q4_0 weights . Q8_0 activations, up to 4 rows at once sharing each
// activation block, and the Q8_0 activation quantizer (same bytes as the scalar one).
//
// vpdpbusd multiplies unsigned by signed bytes, so both formats are shifted to unsigned and
// the shift is taken back through the accumulator's start value, computed once per
// activation block and shared by every row:
//   Q4_0: sum (q - 8) * a   = dpbusd(-8 * sum4(a),   q,        a)   q in [0, 15]
//   Q8_0: sum w * a         = dpbusd(-128 * sum4(a), w ^ 0x80, a)   w ^ 0x80 = w + 128
// (sum4 = sums of each 4 consecutive bytes, one per int32 lane; every value is exact.)
#include <immintrin.h>

#include "core/quant_blocks.h"
#include "kernels/vec_dot.h"

namespace tandem::avx512 {
namespace {

constexpr int kMaxRows = 4;

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float f16_to_f32(f16 h) { return _cvtsh_ss(h.bits); }

// [NR rows][nb] q4_0 . [nb] q8_0 -> out[NR]
template <int NR>
void q4_0_nr(int64_t nb, const char* w, size_t w_stride, const BlockQ8_0* a, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i eight = _mm256_set1_epi8(8);
  const __m256i zero = _mm256_setzero_si256();
  __m256 acc[NR];
  for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
    const __m256i init = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, eight, av));
    const float da = f16_to_f32(a[b].d);
    for (int r = 0; r < NR; ++r) {
      const auto* x = reinterpret_cast<const BlockQ4_0*>(w + static_cast<size_t>(r) * w_stride) + b;
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x->qs));
      // low nibbles are elements 0..15, high nibbles 16..31
      const __m256i qq = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);
      const __m256 p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(init, qq, av));
      acc[r] = _mm256_fmadd_ps(p, _mm256_set1_ps(f16_to_f32(x->d) * da), acc[r]);
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = hsum(acc[r]);
}

// [NR rows][nb] q8_0 . [nb] q8_0 -> out[NR]
template <int NR>
void q8_0_nr(int64_t nb, const char* w, size_t w_stride, const BlockQ8_0* a, float* out) {
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i zero = _mm256_setzero_si256();
  __m256 acc[NR];
  for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
    const __m256i init = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, bias, av));
    const float da = f16_to_f32(a[b].d);
    for (int r = 0; r < NR; ++r) {
      const auto* x = reinterpret_cast<const BlockQ8_0*>(w + static_cast<size_t>(r) * w_stride) + b;
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs));
      const __m256 p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(init, _mm256_xor_si256(wv, bias), av));
      acc[r] = _mm256_fmadd_ps(p, _mm256_set1_ps(f16_to_f32(x->d) * da), acc[r]);
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = hsum(acc[r]);
}

using RowsFn = void (*)(int64_t, const char*, size_t, const BlockQ8_0*, float*);

template <RowsFn F1, RowsFn F2, RowsFn F3, RowsFn F4>
void dot(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out) {
  const auto* a = static_cast<const BlockQ8_0*>(act);
  const auto* p = static_cast<const char*>(w);
  const int64_t nb = k / kQK;
  int r = 0;
  for (; r + 4 <= nr; r += 4) F4(nb, p + static_cast<size_t>(r) * w_stride, w_stride, a, out + r);
  const char* rest = p + static_cast<size_t>(r) * w_stride;
  switch (nr - r) {
    case 3: F3(nb, rest, w_stride, a, out + r); break;
    case 2: F2(nb, rest, w_stride, a, out + r); break;
    case 1: F1(nb, rest, w_stride, a, out + r); break;
    default: break;
  }
}

// roundf (half away from zero): trunc, then step away from zero when the dropped fraction
// (exact for |v| < 2^23) is at least one half.
inline __m512 round_half_away(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 step = _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(INT32_MIN)),
      _mm512_castps_si512(_mm512_set1_ps(1.0f))));
  return _mm512_mask_add_ps(t, up, t, step);
}

void quantize_q8_0(const float* x, void* dst, int64_t k) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < k / kQK; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + b * kQK);
    const __m512 v1 = _mm512_loadu_ps(x + b * kQK + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = to_f16(d);
    const __m512 idv = _mm512_set1_ps(id);
    const __m128i q0 = _mm512_cvtsepi32_epi8(_mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(v0, idv))));
    const __m128i q1 = _mm512_cvtsepi32_epi8(_mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(v1, idv))));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), _mm256_set_m128i(q1, q0));
  }
}

}  // namespace

void register_vec_dot_legacy(VecDotTable& t) {
  t.by_weight[static_cast<size_t>(DType::Q4_0)] =
      VecDotKernel{DType::Q8_0, dot<q4_0_nr<1>, q4_0_nr<2>, q4_0_nr<3>, q4_0_nr<4>>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::Q8_0)] =
      VecDotKernel{DType::Q8_0, dot<q8_0_nr<1>, q8_0_nr<2>, q8_0_nr<3>, q8_0_nr<4>>, kMaxRows};
  t.act_quantize[static_cast<size_t>(DType::Q8_0)] = quantize_q8_0;
}

}  // namespace tandem::avx512
