// AVX2 element-wise operators (8 floats per vector); the algorithms are shared with AVX-512 in
// x86/element_ops_simd.h.
#include <immintrin.h>

#include "kernels/x86/element_ops_simd.h"
#include "kernels/x86/simd_util.h"

namespace tandem::avx2 {
namespace {

struct V {
  using T = __m256;
  static constexpr int N = 8;
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static T set1(float f) { return _mm256_set1_ps(f); }
  static T zero() { return _mm256_setzero_ps(); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T div(T a, T b) { return _mm256_div_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T fnmadd(T a, T b, T c) { return _mm256_fnmadd_ps(a, b, c); }
  static T max(T a, T b) { return _mm256_max_ps(a, b); }
  static T min(T a, T b) { return _mm256_min_ps(a, b); }
  static float hsum(T a) { return x86::hsum(a); }
  static float hmax(T a) { return x86::hmax(a); }
  struct D {
    __m256d lo, hi;
  };
  static D dzero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  static D dsumsq(D acc, T v) {
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    return {_mm256_fmadd_pd(lo, lo, acc.lo), _mm256_fmadd_pd(hi, hi, acc.hi)};
  }
  static double dhsum(D acc) {
    const __m256d s = _mm256_add_pd(acc.lo, acc.hi);
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    h = _mm_add_sd(h, _mm_unpackhi_pd(h, h));
    return _mm_cvtsd_f64(h);
  }
  static T round(T a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // e * 2^n for integral n in [-126, 128] with e in [0.7, 1.5): add n to the exponent bits.
  static T exp2n(T e, T n) {
    const __m256i ni = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(e), ni));
  }
  static T lt(T a, T b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static T gt(T a, T b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static T select(T m, T a, T b) { return _mm256_blendv_ps(b, a, m); }
};

}  // namespace

void register_element_ops(ElementOps& ops) { simd::fill<V>(ops); }

}  // namespace tandem::avx2
