// AVX2 K-quant dot products with Q8_K activations: per 32 weights, maddubs (u8 values x s8
// activations, pairs summed to i16) then madd with the group's scale (i16 pairs to i32). The
// min (Q4_K/Q5_K) and -32 offset (Q6_K) terms come from the activation block sums. Rows share
// each activation load; each row prefetches its super-block two row groups ahead.
#include <immintrin.h>

#include "kernels/x86/simd_util.h"

#include <cstring>

#include "core/quant_blocks.h"
#include "kernels/vec_dot_k.h"
#include "kernels/vec_dot_k_x86.h"

namespace tandem::avx2 {
namespace {

constexpr int kMaxRows = 4;
constexpr int kPrefetchGroups = 2;

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

using x86::hsum;

// pshufb control: every i16 lane of the low 128-bit half <- i16 lane i0 of that half, of the
// high half <- lane i1.
inline __m256i spread_i16(int i0, int i1) {
  const short lo = static_cast<short>((2 * i0) | ((2 * i0 + 1) << 8));
  const short hi = static_cast<short>((2 * i1) | ((2 * i1 + 1) << 8));
  return _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo));
}

// Bit `from` of every byte (the only bit set) moved to bit 4.
inline __m256i move_bit_to_4(__m256i v, int from) {
  return from <= 4 ? _mm256_slli_epi16(v, 4 - from) : _mm256_srli_epi16(v, from - 4);
}

// Q4_K (kFive = false) and Q5_K (kFive = true). Chunk c (32 bytes of qs) holds group 2c in its
// low nibbles and 2c+1 in its high ones; each group's scale is spread over an i16 vector by one
// pshufb from the unpacked scales.
template <typename Block, bool kFive>
void dot_q45(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out) {
  const auto* a = static_cast<const BlockQ8_K*>(act);
  const int64_t nb = k / kQK_K;
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int r0 = 0; r0 < nr; r0 += kMaxRows) {
    const int rows = nr - r0 < kMaxRows ? nr - r0 : kMaxRows;
    __m256 acc[kMaxRows];
    __m128 mins_acc[kMaxRows];
    for (int r = 0; r < rows; ++r) acc[r] = _mm256_setzero_ps(), mins_acc[r] = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ8_K& ab = a[b];
      // Sums of each group of 32 activations (pairs of the 16-element block sums), as 8 i16.
      const __m256i pair32 = _mm256_madd_epi16(load256(ab.bsums), _mm256_set1_epi16(1));
      const __m128i pair16 = _mm_packs_epi32(_mm256_castsi256_si128(pair32), _mm256_extracti128_si256(pair32, 1));
      const __m128 da = _mm_set1_ps(ab.d);
      for (int r = 0; r < rows; ++r) {
        const auto& x = reinterpret_cast<const Block*>(row_ptr(w, w_stride, r0 + r))[b];
        x86k::prefetch_ahead(x, kPrefetchGroups * kMaxRows * w_stride);
        const __m128i sm = x86k::unpack_k_scales(x.scales);  // u8 scales 0-7, mins 0-7
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        __m256i sumi = _mm256_setzero_si256();
        __m256i qh;
        if constexpr (kFive) qh = load256(x.qh);
        for (int c = 0; c < 4; ++c) {
          const __m256i q = load256(x.qs + 32 * c);
          __m256i lo = _mm256_and_si256(q, m4);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
          if constexpr (kFive) {
            // bit 2c (2c+1) of qh[l] moved to bit 4 of element l of group 2c (2c+1); masked
            // first, so no bit crosses into the neighbouring byte of the 16-bit lane.
            lo = _mm256_or_si256(lo, move_bit_to_4(_mm256_and_si256(qh, _mm256_set1_epi8(static_cast<char>(1 << (2 * c)))), 2 * c));
            hi = _mm256_or_si256(hi, move_bit_to_4(_mm256_and_si256(qh, _mm256_set1_epi8(static_cast<char>(2 << (2 * c)))), 2 * c + 1));
          }
          const __m256i plo = _mm256_maddubs_epi16(lo, load256(ab.qs + 64 * c));
          const __m256i phi = _mm256_maddubs_epi16(hi, load256(ab.qs + 64 * c + 32));
          const __m256i slo = _mm256_shuffle_epi8(sc16, spread_i16(2 * c, 2 * c));
          const __m256i shi = _mm256_shuffle_epi8(sc16, spread_i16(2 * c + 1, 2 * c + 1));
          sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_madd_epi16(plo, slo), _mm256_madd_epi16(phi, shi)));
        }
        // sum_j m_j * bsum_j in 4 i32 lanes.
        const __m128i summ = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), pair16);
        const __m128 dd = _mm_mul_ps(x86k::load_half2(&x.d), da);  // [d_a d, d_a dmin]
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_broadcastss_ps(dd), acc[r]);
        mins_acc[r] = _mm_fmadd_ps(_mm_cvtepi32_ps(summ), _mm_shuffle_ps(dd, dd, 0x55), mins_acc[r]);
      }
    }
    for (int r = 0; r < rows; ++r) {
      out[r0 + r] = hsum(acc[r]) - x86::hsum(mins_acc[r]);
    }
  }
}

// Q6_K: half h (128 elements) = ql[64h..64h+63], qh[32h..32h+31]; quarter s of it (32
// elements, groups 8h+2s and 8h+2s+1) takes the low (s = 0, 1) or high (s = 2, 3) nibbles of
// ql[64h + 32 (s & 1)..] and bits 2s, 2s+1 of qh. The scale vector of quarter s is
// [sc[8h+2s] x 8 | sc[8h+2s+1] x 8], one pshufb from the half's 8 scales.
void dot_q6(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out) {
  const auto* a = static_cast<const BlockQ8_K*>(act);
  const int64_t nb = k / kQK_K;
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i m3 = _mm256_set1_epi8(0x03);
  const __m256i m30 = _mm256_set1_epi8(0x30);
  const __m256i spread[4] = {spread_i16(0, 1), spread_i16(2, 3), spread_i16(4, 5), spread_i16(6, 7)};
  for (int r0 = 0; r0 < nr; r0 += kMaxRows) {
    const int rows = nr - r0 < kMaxRows ? nr - r0 : kMaxRows;
    __m256 acc[kMaxRows];
    for (int r = 0; r < rows; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ8_K& ab = a[b];
      const __m256i bsums = load256(ab.bsums);
      for (int r = 0; r < rows; ++r) {
        const auto& x = reinterpret_cast<const BlockQ6_K*>(row_ptr(w, w_stride, r0 + r))[b];
        x86k::prefetch_ahead(x, kPrefetchGroups * kMaxRows * w_stride);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
        // - 32 * sum_g sc_g * bsum_g
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc16, bsums), 5));
        for (int h = 0; h < 2; ++h) {
          // half h's 8 scales, twice (immediates must be literal: not folded at -O1 with sanitizers)
          const __m256i sch = h == 0 ? _mm256_permute4x64_epi64(sc16, 0x44) : _mm256_permute4x64_epi64(sc16, 0xee);
          const __m256i ql0 = load256(x.ql + 64 * h);
          const __m256i ql1 = load256(x.ql + 64 * h + 32);
          const __m256i qh = load256(x.qh + 32 * h);
          const __m256i q[4] = {
              _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4)),
              _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)),
              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30)),
              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                              _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)),
          };
          for (int s = 0; s < 4; ++s) {
            const __m256i p = _mm256_maddubs_epi16(q[s], load256(ab.qs + 128 * h + 32 * s));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_shuffle_epi8(sch, spread[s])));
          }
        }
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(ab.d * x86k::half_to_float(x.d)), acc[r]);
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
    const float amax = x86::hmax(vmax);
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
