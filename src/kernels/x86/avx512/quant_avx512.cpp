// AVX-512 variants of the hot conversions: dequantize F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K;
// quantize F16, BF16, Q8_0. Each produces exactly the scalar reference's output (same float
// operations in the same order, products kept unfused, integer bf16 rounding so subnormals are
// not flushed as VCVTNEPS2BF16 would). Built with the AVX-512 flags; only installed once
// CPUID reports the level.
#include <immintrin.h>

#include "core/quant_blocks.h"
#include "kernels/quant_impl.h"

namespace tandem::avx512 {
namespace {

// a * b, kept out of any fused multiply-add with a following add (the reference rounds it).
inline __m512 mul_rounded(__m512 a, __m512 b) {
  __m512 p = _mm512_mul_ps(a, b);
  asm("" : "+v"(p));
  return p;
}

inline __m512 u8x16_to_ps(__m128i bytes) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes)); }
inline __m128i load16(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// ---- F16 / BF16 -------------------------------------------------------------------------
// [n] f16 -> [n] f32
void dequantize_row_f16(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const f16*>(src);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i))));
  for (; i < n; ++i) dst[i] = to_f32(x[i]);
}
// [n] f32 -> [n] f16, round to nearest even; NaN lanes become sign | 0x7e00 (the reference's).
void quantize_row_f16(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<f16*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 x = _mm512_loadu_ps(src + i);
    __m256i h = _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    if (nan != 0) {
      const __m512i bits = _mm512_castps_si512(x);
      const __m512i qnan = _mm512_or_si512(
          _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x8000)),
          _mm512_set1_epi32(0x7e00));
      h = _mm256_mask_mov_epi16(h, nan, _mm512_cvtepi32_epi16(qnan));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), h);
  }
  for (; i < n; ++i) y[i] = to_f16(src[i]);
}

// [n] bf16 -> [n] f32
void dequantize_row_bf16(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const bf16*>(src);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)));
    _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) dst[i] = to_f32(x[i]);
}
// [n] f32 -> [n] bf16: (bits + 0x7fff + lsb) >> 16, NaN -> bits >> 16 | 0x40.
void quantize_row_bf16(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<bf16*>(dst);
  int64_t i = 0;
  const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  for (; i + 16 <= n; i += 16) {
    const __m512i bits = _mm512_loadu_si512(src + i);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), one);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(bias, lsb)), 16);
    const __mmask16 is_nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(bits, abs_mask), inf);
    r = _mm512_mask_mov_epi32(r, is_nan, _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm512_cvtepi32_epi16(r));
  }
  for (; i < n; ++i) y[i] = to_bf16(src[i]);
}

// ---- Q8_0 / Q4_0 ------------------------------------------------------------------------
// [n/32] q8_0 -> [n] f32
void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const __m512 d = _mm512_set1_ps(to_f32(x[b].d));
    for (int j = 0; j < kQK; j += 16)
      _mm512_storeu_ps(dst + j, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(load16(x[b].qs + j))), d));
  }
}

// roundf then the int32 conversion, exactly: trunc(|v|) + (frac >= 0.5), sign restored;
// inf and NaN give INT32_MIN as cvttss2si does.
inline __m512i round_away(__m512 v) {
  const __m512i sign = _mm512_set1_epi32(INT32_MIN);
  const __m512 a = _mm512_abs_ps(v);
  const __m512 t = _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __mmask16 up = _mm512_cmp_ps_mask(_mm512_sub_ps(a, t), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 r = _mm512_mask_add_ps(t, up, t, _mm512_set1_ps(1.0f));
  const __m512i s = _mm512_and_si512(_mm512_castps_si512(v), sign);
  return _mm512_cvttps_epi32(_mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(r), s)));
}

// [n] f32 -> [n/32] q8_0 (as the scalar reference: d = amax / 127, q = roundf(x * (1/d)),
// stored as the low byte of the int32)
void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, src += kQK) {
    const __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = to_f16(d);
    const __m512 idv = _mm512_set1_ps(id);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs), _mm512_cvtepi32_epi8(round_away(_mm512_mul_ps(v0, idv))));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16), _mm512_cvtepi32_epi8(round_away(_mm512_mul_ps(v1, idv))));
  }
}

// [n/32] q4_0 -> [n] f32
void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(src);
  const __m128i low = _mm_set1_epi8(0x0f);
  const __m512i eight = _mm512_set1_epi32(8);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const __m512 d = _mm512_set1_ps(to_f32(x[b].d));
    const __m128i bytes = load16(x[b].qs);
    const __m128i parts[2] = {_mm_and_si128(bytes, low), _mm_and_si128(_mm_srli_epi16(bytes, 4), low)};
    for (int k = 0; k < 2; ++k) {
      const __m512i q = _mm512_sub_epi32(_mm512_cvtepu8_epi32(parts[k]), eight);
      _mm512_storeu_ps(dst + 16 * k, _mm512_mul_ps(_mm512_cvtepi32_ps(q), d));
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
    for (int g = 0; g < kQK_K / 32; g += 2, q += 32, dst += 64) {
      uint8_t sc, m;
      k_scale_min(g, x[b].scales, sc, m);
      const __m512 d1 = _mm512_set1_ps(d * sc), m1 = _mm512_set1_ps(dmin * m);
      k_scale_min(g + 1, x[b].scales, sc, m);
      const __m512 d2 = _mm512_set1_ps(d * sc), m2 = _mm512_set1_ps(dmin * m);
      for (int h = 0; h < 32; h += 16) {
        const __m128i bytes = load16(q + h);
        const __m512 ql = u8x16_to_ps(_mm_and_si128(bytes, low));
        const __m512 qh = u8x16_to_ps(_mm_and_si128(_mm_srli_epi16(bytes, 4), low));
        _mm512_storeu_ps(dst + h, _mm512_sub_ps(mul_rounded(d1, ql), m1));
        _mm512_storeu_ps(dst + 32 + h, _mm512_sub_ps(mul_rounded(d2, qh), m2));
      }
    }
  }
}

// [n/256] q6_K -> [n] f32: x = (d * sc) * (q - 32)
void dequantize_row_q6_K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ6_K*>(src);
  const __m512i low = _mm512_set1_epi32(0x0f), three = _mm512_set1_epi32(3);
  const __m512i bias = _mm512_set1_epi32(32);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = to_f32(x[b].d);
    const uint8_t* ql = x[b].ql;
    const uint8_t* qh = x[b].qh;
    const int8_t* sc = x[b].scales;
    for (int half = 0; half < 2; ++half, dst += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; l += 16) {  // elements l..l+15 of each quarter share scale l/16
        const int is = l / 16;
        const __m512i a = _mm512_cvtepu8_epi32(load16(ql + l));
        const __m512i c = _mm512_cvtepu8_epi32(load16(ql + l + 32));
        const __m512i h = _mm512_cvtepu8_epi32(load16(qh + l));
        const __m512i q[4] = {
            _mm512_or_si512(_mm512_and_si512(a, low), _mm512_slli_epi32(_mm512_and_si512(h, three), 4)),
            _mm512_or_si512(_mm512_and_si512(c, low),
                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h, 2), three), 4)),
            _mm512_or_si512(_mm512_srli_epi32(a, 4),
                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h, 4), three), 4)),
            _mm512_or_si512(_mm512_srli_epi32(c, 4), _mm512_slli_epi32(_mm512_srli_epi32(h, 6), 4)),
        };
        for (int k = 0; k < 4; ++k) {
          const __m512 scale = _mm512_set1_ps(d * sc[is + 2 * k]);
          const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(q[k], bias));
          _mm512_storeu_ps(dst + l + 32 * k, _mm512_mul_ps(scale, v));
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

}  // namespace tandem::avx512
