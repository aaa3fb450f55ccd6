// AVX-512 K-quant dot products with Q8_K activations, and the Q8_K activation quantizer.
// Per 64 weights: the 4/5/6-bit values are widened to one 512-bit vector of u8, multiplied
// with 64 activation bytes by maddubs (pairs summed to i16, no overflow: q <= 63, |a| <= 128),
// then VNNI vpdpwssd multiplies each i16 pair-sum by its group's scale and accumulates i32
// (vpdpbusd would leave 4-element i32 sums still to be scaled: more work, not less). The min
// (Q4_K/Q5_K) and -32 offset (Q6_K) terms come from the activation block sums. kMaxRows rows
// share each activation load.
#include <immintrin.h>

#include "kernels/x86/simd_util.h"

#include <cstring>

#include "core/quant_blocks.h"
#include "kernels/vec_dot_k.h"
#include "kernels/vec_dot_k_x86.h"

namespace tandem::avx512 {
namespace {

constexpr int kMaxRows = 4;
// Rows are walked kMaxRows at a time, a super-block each: too short a stride for the hardware
// prefetcher to ramp up on every row. Each row prefetches (into L2) the super-block two row
// groups further on, every cache line of it.
constexpr int kPrefetchGroups = 2;

// 32 bytes duplicated into both 256-bit halves.
inline __m512i dup256(const void* p) {
  return _mm512_broadcast_i64x4(_mm256_loadu_si256(static_cast<const __m256i*>(p)));
}

// i16 lanes 8g..8g+7 <- s[first + g] for g = 0..3.
inline __m512i pick4(__m512i s16x32, int first) {
  const __m512i idx = _mm512_set_epi64(
      0x0001000100010001LL * (first + 3), 0x0001000100010001LL * (first + 3),
      0x0001000100010001LL * (first + 2), 0x0001000100010001LL * (first + 2),
      0x0001000100010001LL * (first + 1), 0x0001000100010001LL * (first + 1),
      0x0001000100010001LL * first, 0x0001000100010001LL * first);
  return _mm512_permutexvar_epi16(idx, s16x32);
}

// i16 index vector for _mm512_permutexvar_epi16: lanes 0-15 <- s[i0], lanes 16-31 <- s[i1].
inline __m512i pick_index(int i0, int i1) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(static_cast<short>(i0))),
                            _mm256_set1_epi16(static_cast<short>(i1)), 1);
}

// Bytes 0-31 <- b0, bytes 32-63 <- b1.
inline __m512i byte_halves(int b0, int b1) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8(static_cast<char>(b0))),
                            _mm256_set1_epi8(static_cast<char>(b1)), 1);
}

// Q4_K (kFive = false) and Q5_K (kFive = true). qs is read 64 bytes (chunks 2p, 2p+1) at a time:
// its low nibbles are groups 4p | 4p+2 (one per 256-bit half), its high nibbles 4p+1 | 4p+3.
// The activations are rearranged to that order once per super-block and shared by the rows.
template <typename Block, bool kFive>
void dot_q45(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out) {
  const auto* a = static_cast<const BlockQ8_K*>(act);
  const int64_t nb = k / kQK_K;
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  // Per vector v = 2p + (high nibbles): its two groups, their scales and Q5_K's fifth bits.
  const __m512i pick[4] = {pick_index(0, 2), pick_index(1, 3), pick_index(4, 6), pick_index(5, 7)};
  const __m512i bit[4] = {byte_halves(1, 4), byte_halves(2, 8), byte_halves(16, 64), byte_halves(32, 128)};
  const __m512i sixteen = _mm512_set1_epi8(16);
  for (int r0 = 0; r0 < nr; r0 += kMaxRows) {
    const int rows = nr - r0 < kMaxRows ? nr - r0 : kMaxRows;
    __m512 acc[kMaxRows];
    __m128 mins_acc[kMaxRows];
    for (int r = 0; r < rows; ++r) acc[r] = _mm512_setzero_ps(), mins_acc[r] = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ8_K& ab = a[b];
      // av[2p] = activations of groups 4p | 4p+2, av[2p+1] = groups 4p+1 | 4p+3.
      __m512i av[4];
      for (int p = 0; p < 2; ++p) {
        const __m512i c0 = _mm512_loadu_si512(ab.qs + 128 * p);
        const __m512i c1 = _mm512_loadu_si512(ab.qs + 128 * p + 64);
        av[2 * p] = _mm512_shuffle_i64x2(c0, c1, 0x44);
        av[2 * p + 1] = _mm512_shuffle_i64x2(c0, c1, 0xee);
      }
      // Sums of each group of 32 activations (pairs of the 16-element block sums), as 8 i16.
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab.bsums));
      const __m128i pair16 = _mm256_cvtepi32_epi16(_mm256_madd_epi16(bs, _mm256_set1_epi16(1)));
      const __m128 da = _mm_set1_ps(ab.d);
      for (int r = 0; r < rows; ++r) {
        const auto& x = reinterpret_cast<const Block*>(row_ptr(w, w_stride, r0 + r))[b];
        x86k::prefetch_ahead(x, kPrefetchGroups * kMaxRows * w_stride);
        const __m128i sm = x86k::unpack_k_scales(x.scales);  // u8 scales 0-7, mins 0-7
        const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));
        __m512i q[4];
        for (int p = 0; p < 2; ++p) {
          const __m512i bytes = _mm512_loadu_si512(x.qs + 64 * p);
          q[2 * p] = _mm512_and_si512(bytes, m4);
          q[2 * p + 1] = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), m4);
        }
        if constexpr (kFive) {
          const __m512i qh = dup256(x.qh);  // qh[l] serves element l of every group
          for (int v = 0; v < 4; ++v)
            q[v] = _mm512_mask_add_epi8(q[v], _mm512_test_epi8_mask(qh, bit[v]), q[v], sixteen);
        }
        __m512i sumi = _mm512_setzero_si512();
        for (int v = 0; v < 4; ++v)
          sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(q[v], av[v]),
                                     _mm512_permutexvar_epi16(pick[v], sc16));
        // sum_j m_j * bsum_j in 4 i32 lanes.
        const __m128i summ = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), pair16);
        const __m128 dd = _mm_mul_ps(x86k::load_half2(&x.d), da);  // [d_a d, d_a dmin]
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_broadcastss_ps(dd), acc[r]);
        mins_acc[r] = _mm_fmadd_ps(_mm_cvtepi32_ps(summ), _mm_shuffle_ps(dd, dd, 0x55), mins_acc[r]);
      }
    }
    for (int r = 0; r < rows; ++r) {
      out[r0 + r] = _mm512_reduce_add_ps(acc[r]) - x86::hsum(mins_acc[r]);
    }
  }
}

void dot_q6(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out) {
  const auto* a = static_cast<const BlockQ8_K*>(act);
  const int64_t nb = k / kQK_K;
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i m3 = _mm512_set1_epi8(0x03);
  // qh shifts per 256-bit half: chunk A (quarters 0, 1) and chunk B (quarters 2, 3).
  const __m512i shift_a = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  const __m512i shift_b = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(4)),
                                             _mm256_set1_epi16(6), 1);
  for (int r0 = 0; r0 < nr; r0 += kMaxRows) {
    const int rows = nr - r0 < kMaxRows ? nr - r0 : kMaxRows;
    __m512 acc[kMaxRows];
    for (int r = 0; r < rows; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ8_K& ab = a[b];
      __m512i av[4];
      for (int c = 0; c < 4; ++c) av[c] = _mm512_loadu_si512(ab.qs + 64 * c);
      const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab.bsums));
      for (int r = 0; r < rows; ++r) {
        const auto& x = reinterpret_cast<const BlockQ6_K*>(row_ptr(w, w_stride, r0 + r))[b];
        x86k::prefetch_ahead(x, kPrefetchGroups * kMaxRows * w_stride);
        const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales));
        const __m256i sc16_256 = _mm256_cvtepi8_epi16(sc8);
        const __m512i sc16 = _mm512_castsi256_si512(sc16_256);
        __m512i sumi = _mm512_setzero_si512();
        for (int h = 0; h < 2; ++h) {
          const __m512i ql = _mm512_loadu_si512(x.ql + 64 * h);
          const __m512i qh = dup256(x.qh + 32 * h);
          const __m512i ha = _mm512_and_si512(_mm512_srlv_epi16(qh, shift_a), m3);
          const __m512i hb = _mm512_and_si512(_mm512_srlv_epi16(qh, shift_b), m3);
          const __m512i qa = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(ha, 4));
          const __m512i qb = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                             _mm512_slli_epi16(hb, 4));
          sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(qa, av[2 * h]), pick4(sc16, 8 * h));
          sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(qb, av[2 * h + 1]),
                                     pick4(sc16, 8 * h + 4));
        }
        // - 32 * sum_g sc_g * bsum_g, folded into the low 8 lanes.
        const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc16_256, bsums), 5);
        const __m512i total = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(corr));
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_set1_ps(ab.d * x86k::half_to_float(x.d)), acc[r]);
      }
    }
    for (int r = 0; r < rows; ++r) out[r0 + r] = _mm512_reduce_add_ps(acc[r]);
  }
}

// [k] f32 -> [k/256] q8_K, the same bytes as quantize_row_q8_K_act: one 16-float vector is one
// group of 16 (one bsum). cvtps rounds half to even under the default MXCSR, as nearest_int.
void quantize_q8_K(const float* x, void* dst, int64_t k) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  const __m512i q_max = _mm512_set1_epi32(127);
  for (int64_t b = 0; b < k / kQK_K; ++b, x += kQK_K) {
    __m512 vmax = _mm512_setzero_ps();
    for (int g = 0; g < 16; ++g) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * g)));
    const float amax = _mm512_reduce_max_ps(vmax);
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    // The first value of largest magnitude, sign kept (the scalar loop's strict '>').
    int first = 0;
    for (int g = 0; g < 16; ++g) {
      const __mmask16 m = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * g)),
                                             _mm512_set1_ps(amax), _CMP_EQ_OQ);
      if (m != 0) {
        first = 16 * g + __builtin_ctz(m);
        break;
      }
    }
    const float iscale = -127.0f / x[first];
    const __m512 vs = _mm512_set1_ps(iscale);
    for (int g = 0; g < 16; ++g) {
      const __m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * g), vs)), q_max);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16 * g), _mm512_cvtepi32_epi8(q));
      y[b].bsums[g] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
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

}  // namespace tandem::avx512
