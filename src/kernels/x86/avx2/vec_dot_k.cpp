// AVX2 K-quant dot products with Q8_K activations: per 32 weights, maddubs (u8 values x s8
// activations, pairs summed to i16) then madd with the group's scale (i16 pairs to i32). The
// min (Q4_K/Q5_K) and -32 offset (Q6_K) terms come from the activation block sums. Rows share
// each activation load; each row prefetches its super-block two row groups ahead.
#include <immintrin.h>

#include <cstring>

#include "core/quant_blocks.h"
#include "kernels/vec_dot_k.h"

namespace tandem::avx2 {
namespace {

constexpr int kMaxRows = 4;
constexpr int kPrefetchGroups = 2;

const char* row_ptr(const void* w, size_t w_stride, int r) {
  return static_cast<const char*>(w) + static_cast<size_t>(r) * w_stride;
}

template <typename Block>
inline void prefetch_ahead(const Block& x, size_t ahead) {
  const char* p = reinterpret_cast<const char*>(&x) + ahead;
  for (size_t off = 0; off < sizeof(Block); off += 64) _mm_prefetch(p + off, _MM_HINT_T1);
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Q4_K (kFive = false) and Q5_K (kFive = true).
template <typename Block, bool kFive>
void dot_q45(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out) {
  const auto* a = static_cast<const BlockQ8_K*>(act);
  const int64_t nb = k / kQK_K;
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i one = _mm256_set1_epi8(1);
  for (int r0 = 0; r0 < nr; r0 += kMaxRows) {
    const int rows = nr - r0 < kMaxRows ? nr - r0 : kMaxRows;
    __m256 acc[kMaxRows];
    float mins_acc[kMaxRows] = {};
    for (int r = 0; r < rows; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ8_K& ab = a[b];
      int32_t pair[8];
      for (int j = 0; j < 8; ++j) pair[j] = ab.bsums[2 * j] + ab.bsums[2 * j + 1];
      for (int r = 0; r < rows; ++r) {
        const auto& x = reinterpret_cast<const Block*>(row_ptr(w, w_stride, r0 + r))[b];
        prefetch_ahead(x, kPrefetchGroups * kMaxRows * w_stride);
        uint8_t sc[8], mn[8];
        unpack_k_scales(x.scales, sc, mn);
        __m256i sumi = _mm256_setzero_si256();
        __m256i qh;
        if constexpr (kFive) qh = load256(x.qh);
        for (int c = 0; c < 4; ++c) {
          const __m256i q = load256(x.qs + 32 * c);
          __m256i lo = _mm256_and_si256(q, m4);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
          if constexpr (kFive) {
            const __m256i blo = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c)), one);
            const __m256i bhi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c + 1)), one);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(blo, 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(bhi, 4));
          }
          const __m256i plo = _mm256_maddubs_epi16(lo, load256(ab.qs + 64 * c));
          const __m256i phi = _mm256_maddubs_epi16(hi, load256(ab.qs + 64 * c + 32));
          sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_set1_epi16(sc[2 * c])));
          sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_set1_epi16(sc[2 * c + 1])));
        }
        int32_t summ = 0;
        for (int j = 0; j < 8; ++j) summ += mn[j] * pair[j];
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(ab.d * to_f32(x.d)), acc[r]);
        mins_acc[r] += ab.d * to_f32(x.dmin) * static_cast<float>(summ);
      }
    }
    for (int r = 0; r < rows; ++r) out[r0 + r] = hsum(acc[r]) - mins_acc[r];
  }
}

// i16 lanes 0-7 <- s0, lanes 8-15 <- s1.
inline __m256i scale_pair(int8_t s0, int8_t s1) {
  return _mm256_set_m128i(_mm_set1_epi16(s1), _mm_set1_epi16(s0));
}

void dot_q6(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out) {
  const auto* a = static_cast<const BlockQ8_K*>(act);
  const int64_t nb = k / kQK_K;
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i m3 = _mm256_set1_epi8(0x03);
  for (int r0 = 0; r0 < nr; r0 += kMaxRows) {
    const int rows = nr - r0 < kMaxRows ? nr - r0 : kMaxRows;
    __m256 acc[kMaxRows];
    for (int r = 0; r < rows; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ8_K& ab = a[b];
      const __m256i bsums = load256(ab.bsums);
      for (int r = 0; r < rows; ++r) {
        const auto& x = reinterpret_cast<const BlockQ6_K*>(row_ptr(w, w_stride, r0 + r))[b];
        prefetch_ahead(x, kPrefetchGroups * kMaxRows * w_stride);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
          const __m256i ql0 = load256(x.ql + 64 * h);
          const __m256i ql1 = load256(x.ql + 64 * h + 32);
          const __m256i qh = load256(x.qh + 32 * h);
          const __m256i q[4] = {
              _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4)),
              _mm256_or_si256(_mm256_and_si256(ql1, m4),
                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4)),
              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4)),
              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4)),
          };
          for (int s = 0; s < 4; ++s) {
            const int g = 8 * h + 2 * s;  // quarter s holds groups g and g+1
            const __m256i p = _mm256_maddubs_epi16(q[s], load256(ab.qs + 128 * h + 32 * s));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale_pair(x.scales[g], x.scales[g + 1])));
          }
        }
        // - 32 * sum_g sc_g * bsum_g
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(_mm256_madd_epi16(sc16, bsums), 5));
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(ab.d * to_f32(x.d)), acc[r]);
      }
    }
    for (int r = 0; r < rows; ++r) out[r0 + r] = hsum(acc[r]);
  }
}

// [k] f32 -> [k/256] q8_K, the same bytes as quantize_row_q8_K_act, 32 floats (two groups of
// 16) at a time. cvtps rounds half to even under the default MXCSR, as nearest_int.
void quantize_q8_K(const float* x, void* dst, int64_t k) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i q_max = _mm256_set1_epi32(127);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < k / kQK_K; ++b, x += kQK_K) {
    __m256 vmax = _mm256_setzero_ps();
    for (int i = 0; i < kQK_K; i += 8) vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float amax = _mm_cvtss_f32(m);
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    // The first value of largest magnitude, sign kept (the scalar loop's strict '>').
    int first = 0;
    for (int i = 0; i < kQK_K; i += 8) {
      const int mask = _mm256_movemask_ps(
          _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), _mm256_set1_ps(amax), _CMP_EQ_OQ));
      if (mask != 0) {
        first = i + __builtin_ctz(static_cast<unsigned>(mask));
        break;
      }
    }
    const float iscale = -127.0f / x[first];
    const __m256 vs = _mm256_set1_ps(iscale);
    for (int i = 0; i < kQK_K; i += 32) {
      __m256i q[4];
      for (int j = 0; j < 4; ++j)
        q[j] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * j), vs)), q_max);
      // packs interleave 4-byte pieces of the four vectors across lanes; the permute restores order.
      const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs + i), _mm256_permutevar8x32_epi32(bytes, order));
      // Two bsums: lanes of (q0 + q1) and (q2 + q3) summed.
      __m256i h = _mm256_hadd_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
      h = _mm256_hadd_epi32(h, h);  // per lane: [s01, s23, s01, s23]
      const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
      y[b].bsums[i / 16] = static_cast<int16_t>(_mm_cvtsi128_si32(s));
      y[b].bsums[i / 16 + 1] = static_cast<int16_t>(_mm_extract_epi32(s, 1));
    }
    y[b].d = 1.0f / iscale;
  }
}

}  // namespace

void register_vec_dot_k(VecDotTable& t) {
  t.act_quantize[static_cast<size_t>(DType::Q8_K)] = quantize_q8_K;
  t.by_weight[static_cast<size_t>(DType::Q4_K)] = {DType::Q8_K, dot_q45<BlockQ4_K, false>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::Q5_K)] = {DType::Q8_K, dot_q45<BlockQ5_K, true>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::Q6_K)] = {DType::Q8_K, dot_q6, kMaxRows};
}

}  // namespace tandem::avx2
