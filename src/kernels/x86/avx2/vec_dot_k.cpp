// AVX2 K-quant dot products with Q8_K activations: per 32 weights, maddubs (u8 values x s8
// activations, pairs summed to i16) then madd with the group's scale (i16 pairs to i32). The
// min (Q4_K/Q5_K) and -32 offset (Q6_K) terms come from the activation block sums. Rows share
// each activation load; each row prefetches its super-block two row groups ahead.
#include <immintrin.h>

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

}  // namespace

void register_vec_dot_k(VecDotTable& t) {
  t.by_weight[static_cast<size_t>(DType::Q4_K)] = {DType::Q8_K, dot_q45<BlockQ4_K, false>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::Q5_K)] = {DType::Q8_K, dot_q45<BlockQ5_K, true>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::Q6_K)] = {DType::Q8_K, dot_q6, kMaxRows};
}

}  // namespace tandem::avx2
