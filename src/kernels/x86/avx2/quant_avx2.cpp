// AVX2 (+F16C) variants of the hot conversions: dequantize F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K;
// quantize F16, BF16, Q8_0. Every one produces exactly the scalar reference's output (the
// same float operations in the same order, products kept unfused), which the tests check.
// Built with -mavx2 -mfma -mf16c; only installed once CPUID reports AVX2.
#include <immintrin.h>

#include "kernels/x86/simd_util.h"

#include <cmath>

#include "core/quant_blocks.h"
#include "kernels/quant_impl.h"

namespace tandem::avx2 {
namespace {

// a * b, kept out of any fused multiply-add the compiler might form with a following add:
// the scalar reference rounds the product first.
inline __m256 mul_rounded(__m256 a, __m256 b) {
  __m256 p = _mm256_mul_ps(a, b);
  asm("" : "+x"(p));
  return p;
}

// 8 bytes -> 8 f32 (unsigned / signed)
inline __m256 u8_to_ps(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
inline __m256 i8_to_ps(const int8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// ---- F16 / BF16 -------------------------------------------------------------------------
// [n] f16 -> [n] f32
void dequantize_row_f16(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const f16*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  for (; i < n; ++i) dst[i] = to_f32(x[i]);
}
// [n] f32 -> [n] f16, round to nearest even; NaN lanes become sign | 0x7e00 as in the scalar
// reference (F16C would keep payload bits).
void quantize_row_f16(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<f16*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(src + i);
    __m128i h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    if (!_mm256_testz_ps(nan, nan)) {
      const __m256i bits = _mm256_castps_si256(x);
      const __m256i qnan = _mm256_or_si256(
          _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x8000)),
          _mm256_set1_epi32(0x7e00));
      const __m128i qnan16 = _mm_packus_epi32(_mm256_castsi256_si128(qnan), _mm256_extracti128_si256(qnan, 1));
      const __m256i m = _mm256_castps_si256(nan);
      const __m128i m16 = _mm_packs_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
      h = _mm_blendv_epi8(h, qnan16, m16);
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), h);
  }
  for (; i < n; ++i) y[i] = to_f16(src[i]);
}

// [n] bf16 -> [n] f32
void dequantize_row_bf16(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const bf16*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) dst[i] = to_f32(x[i]);
}
// [n] f32 -> [n] bf16: (bits + 0x7fff + lsb) >> 16, NaN -> quiet (bits >> 16 | 0x40), in
// integers so subnormals round exactly as the scalar reference (no DAZ).
void quantize_row_bf16(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<bf16*>(dst);
  int64_t i = 0;
  const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  for (; i + 8 <= n; i += 8) {
    const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), one);
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(bias, lsb)), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
    const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, abs_mask), inf);
    const __m256i r = _mm256_blendv_epi8(rounded, quiet, is_nan);
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), packed);
  }
  for (; i < n; ++i) y[i] = to_bf16(src[i]);
}

// ---- Q8_0 / Q4_0 ------------------------------------------------------------------------
// [n/32] q8_0 -> [n] f32
void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const __m256 d = _mm256_set1_ps(to_f32(x[b].d));
    for (int j = 0; j < kQK; j += 8) _mm256_storeu_ps(dst + j, _mm256_mul_ps(i8_to_ps(x[b].qs + j), d));
  }
}

// roundf then the int32 conversion, exactly: trunc(|v|) + (frac >= 0.5), sign restored;
// inf and NaN give INT32_MIN as cvttss2si does.
inline __m256i round_away(__m256 v) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 a = _mm256_andnot_ps(sign, v);
  const __m256 t = _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 up = _mm256_and_ps(_mm256_cmp_ps(_mm256_sub_ps(a, t), _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                  _mm256_set1_ps(1.0f));
  return _mm256_cvttps_epi32(_mm256_or_ps(_mm256_add_ps(t, up), _mm256_and_ps(v, sign)));
}

// [n] f32 -> [n/32] q8_0 (as the scalar reference: d = amax / 127, q = roundf(x * (1/d)))
void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / kQK; ++b, src += kQK) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(src + 8 * k);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
    }
    const float d = x86::hmax(amax) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = to_f16(d);
    const __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; ++k) q[k] = round_away(_mm256_mul_ps(v[k], idv));
    // Keep the low byte of each int32 (as the scalar cast does), then pack without saturation.
    const __m256i byte = _mm256_set1_epi32(0xff);
    for (int k = 0; k < 4; ++k) q[k] = _mm256_and_si256(q[k], byte);
    const __m256i p01 = _mm256_packus_epi32(q[0], q[1]);
    const __m256i p23 = _mm256_packus_epi32(q[2], q[3]);
    const __m256i p = _mm256_packus_epi16(p01, p23);
    const __m256i ordered = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), ordered);
  }
}

// [n/32] q4_0 -> [n] f32
void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(src);
  const __m128i low = _mm_set1_epi8(0x0f);
  const __m256i eight = _mm256_set1_epi32(8);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const __m256 d = _mm256_set1_ps(to_f32(x[b].d));
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs));
    const __m128i lo = _mm_and_si128(bytes, low);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; ++k) {
      const __m256i q = _mm256_sub_epi32(_mm256_cvtepu8_epi32(parts[k]), eight);
      _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
    }
  }
}

// ---- Q4_K / Q6_K ------------------------------------------------------------------------
// [n/256] q4_K -> [n] f32: x = (d * sc) * q - dmin * m, product rounded before the subtract.
void dequantize_row_q4_K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_K*>(src);
  const __m128i low = _mm_set1_epi8(0x0f);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = to_f32(x[b].d);
    const float dmin = to_f32(x[b].dmin);
    const uint8_t* q = x[b].qs;
    for (int g = 0; g < kQK_K / 32; g += 2, q += 32) {
      uint8_t sc, m;
      k_scale_min(g, x[b].scales, sc, m);
      const __m256 d1 = _mm256_set1_ps(d * sc), m1 = _mm256_set1_ps(dmin * m);
      k_scale_min(g + 1, x[b].scales, sc, m);
      const __m256 d2 = _mm256_set1_ps(d * sc), m2 = _mm256_set1_ps(dmin * m);
      for (int h = 0; h < 32; h += 16) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + h));
        const __m128i lo = _mm_and_si128(bytes, low);
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low);
        for (int k = 0; k < 2; ++k) {
          const __m256 ql = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(k ? _mm_srli_si128(lo, 8) : lo));
          const __m256 qh = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(k ? _mm_srli_si128(hi, 8) : hi));
          _mm256_storeu_ps(dst + h + 8 * k, _mm256_sub_ps(mul_rounded(d1, ql), m1));
          _mm256_storeu_ps(dst + 32 + h + 8 * k, _mm256_sub_ps(mul_rounded(d2, qh), m2));
        }
      }
      dst += 64;
    }
  }
}

// [n/256] q6_K -> [n] f32: x = (d * sc) * (q - 32)
void dequantize_row_q6_K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ6_K*>(src);
  const __m256i low = _mm256_set1_epi32(0x0f), three = _mm256_set1_epi32(3);
  const __m256i bias = _mm256_set1_epi32(32);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = to_f32(x[b].d);
    const uint8_t* ql = x[b].ql;
    const uint8_t* qh = x[b].qh;
    const int8_t* sc = x[b].scales;
    for (int half = 0; half < 2; ++half, dst += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; l += 8) {
        const int is = l / 16;
        const __m256i a = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(ql + l)));
        const __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(ql + l + 32)));
        const __m256i h = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(qh + l)));
        const __m256i q[4] = {
            _mm256_or_si256(_mm256_and_si256(a, low), _mm256_slli_epi32(_mm256_and_si256(h, three), 4)),
            _mm256_or_si256(_mm256_and_si256(c, low),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h, 2), three), 4)),
            _mm256_or_si256(_mm256_srli_epi32(a, 4),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h, 4), three), 4)),
            _mm256_or_si256(_mm256_srli_epi32(c, 4), _mm256_slli_epi32(_mm256_srli_epi32(h, 6), 4)),
        };
        for (int k = 0; k < 4; ++k) {
          const __m256 scale = _mm256_set1_ps(d * sc[is + 2 * k]);
          const __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(q[k], bias));
          _mm256_storeu_ps(dst + l + 32 * k, _mm256_mul_ps(scale, v));
        }
      }
    }
  }
}

}  // namespace

void register_quant(QuantOps& ops) {
  set_quant_ops(ops, DType::F16, dequantize_row_f16, quantize_row_f16);
  set_quant_ops(ops, DType::BF16, dequantize_row_bf16, quantize_row_bf16);
  set_quant_ops(ops, DType::Q8_0, dequantize_row_q8_0, quantize_row_q8_0);
  set_quant_ops(ops, DType::Q4_0, dequantize_row_q4_0, nullptr);
  set_quant_ops(ops, DType::Q4_K, dequantize_row_q4_K, nullptr);
  set_quant_ops(ops, DType::Q6_K, dequantize_row_q6_K, nullptr);
}

}  // namespace tandem::avx2
