// AVX2: Q8_0, Q4_0 (and Q4_1, Q5_0, Q5_1) weights . Q8_0 activations, up to 4 rows at once
// sharing each activation block, and the Q8_0 activation quantizer (same bytes as the scalar
// one).
//
// Integer products use maddubs (u8 x s8 -> pairs summed to s16) then madd with ones (-> s32):
//   Q4_0: maddubs(q, a) - maddubs(8, a) = sum of (q - 8) * a per pair, |.| <= 2 * 8 * 127.
//   Q8_0: the sign trick maddubs(|w|, sign(a, w)), |.| <= 2 * 128 * 127 < 32767.
#include <immintrin.h>

#include "kernels/x86/simd_util.h"

#include <cmath>
#include <cstring>

#include "core/quant_blocks.h"
#include "kernels/vec_dot.h"

namespace tandem::avx2 {
namespace {

constexpr int kMaxRows = 4;
// Rows are short (a few KiB) and walked NR at a time: too short for the hardware prefetcher to
// ramp up on each. So every other block each row prefetches (into L2) the same place 2 * NR
// rows further on, i.e. two chunks of rows ahead (see the AVX-512 file for measurements).
constexpr int kPrefetchChunks = 2;

using x86::hsum;

inline float f16_to_f32(f16 h) { return _cvtsh_ss(h.bits); }

// [NR rows][nb] q4_0 . [nb] q8_0 -> out[NR]
template <int NR>
void q4_0_nr(int64_t nb, const char* w, size_t w_stride, const BlockQ8_0* a, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i eight = _mm256_set1_epi8(8);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NR];
  for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
    const __m256i a8 = _mm256_maddubs_epi16(eight, av);
    const float da = f16_to_f32(a[b].d);
    for (int r = 0; r < NR; ++r) {
      const auto* x = reinterpret_cast<const BlockQ4_0*>(w + static_cast<size_t>(r) * w_stride) + b;
      if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(x) + kPrefetchChunks * NR * w_stride, _MM_HINT_T1);
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x->qs));
      // low nibbles are elements 0..15, high nibbles 16..31
      const __m256i qq = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);
      const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(qq, av), a8);
      const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
      acc[r] = _mm256_fmadd_ps(p, _mm256_set1_ps(f16_to_f32(x->d) * da), acc[r]);
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = hsum(acc[r]);
}

// [NR rows][nb] q8_0 . [nb] q8_0 -> out[NR]
template <int NR>
void q8_0_nr(int64_t nb, const char* w, size_t w_stride, const BlockQ8_0* a, float* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NR];
  for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
    const float da = f16_to_f32(a[b].d);
    for (int r = 0; r < NR; ++r) {
      const auto* x = reinterpret_cast<const BlockQ8_0*>(w + static_cast<size_t>(r) * w_stride) + b;
      if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(x) + kPrefetchChunks * NR * w_stride, _MM_HINT_T1);
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs));
      const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(av, wv));
      const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
      acc[r] = _mm256_fmadd_ps(p, _mm256_set1_ps(f16_to_f32(x->d) * da), acc[r]);
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = hsum(acc[r]);
}

// The other legacy formats, unpacked to unsigned q in [0, 15] or [0, 31]: nibbles by shift and
// mask, the fifth bit by spreading the 32 bits of qh to 32 bytes (byte j of the shuffle holds
// qh byte j / 8; or-ing every bit but j % 8 and comparing with all-ones tests bit j % 8).
// maddubs(q, a) pairs stay within 2 * 31 * 127; the offset of Q5_0 comes off as
// maddubs(16, a), the min of Q4_1 / Q5_1 is added as m_w * d_a * sum(a) per lane.
inline __m256i fifth_bits(const uint8_t* qh) {
  uint32_t x;
  std::memcpy(&x, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(x)),
      _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll, 0x0101010101010101ll, 0));
  const __m256i all_but_bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfell);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_or_si256(spread, all_but_bit), _mm256_set1_epi8(-1));
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

template <typename Block, int kOffset, bool kFifthBit, bool kMin>
struct LegacyFmt {
  using B = Block;
  static constexpr int offset = kOffset;
  static constexpr bool has_min = kMin;
  static __m256i unpack(const Block& x) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.qs));
    __m256i v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
    if constexpr (kFifthBit) v = _mm256_or_si256(v, fifth_bits(x.qh));
    return v;
  }
};
using Q4_1Fmt = LegacyFmt<BlockQ4_1, 0, false, true>;
using Q5_0Fmt = LegacyFmt<BlockQ5_0, 16, true, false>;
using Q5_1Fmt = LegacyFmt<BlockQ5_1, 0, true, true>;

// [NR rows][nb] q4_1 / q5_0 / q5_1 . [nb] q8_0 -> out[NR]
template <typename Fmt, int NR>
void legacy_nr(int64_t nb, const char* w, size_t w_stride, const BlockQ8_0* a, float* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NR];
  for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
    const float da = f16_to_f32(a[b].d);
    __m256i off = _mm256_setzero_si256();
    if constexpr (Fmt::offset != 0) off = _mm256_maddubs_epi16(_mm256_set1_epi8(Fmt::offset), av);
    __m256 sda = _mm256_setzero_ps();  // d_a * (sum of 4 activations) per lane
    if constexpr (Fmt::has_min)
      sda = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), av), ones)),
                          _mm256_set1_ps(da));
    for (int r = 0; r < NR; ++r) {
      const auto& x = reinterpret_cast<const typename Fmt::B*>(w + static_cast<size_t>(r) * w_stride)[b];
      if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(&x) + kPrefetchChunks * NR * w_stride, _MM_HINT_T1);
      __m256i p16 = _mm256_maddubs_epi16(Fmt::unpack(x), av);
      if constexpr (Fmt::offset != 0) p16 = _mm256_sub_epi16(p16, off);
      const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
      acc[r] = _mm256_fmadd_ps(p, _mm256_set1_ps(f16_to_f32(x.d) * da), acc[r]);
      if constexpr (Fmt::has_min) acc[r] = _mm256_fmadd_ps(sda, _mm256_set1_ps(f16_to_f32(x.m)), acc[r]);
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = hsum(acc[r]);
}

template <void (*F1)(int64_t, const char*, size_t, const BlockQ8_0*, float*),
          void (*F2)(int64_t, const char*, size_t, const BlockQ8_0*, float*),
          void (*F3)(int64_t, const char*, size_t, const BlockQ8_0*, float*),
          void (*F4)(int64_t, const char*, size_t, const BlockQ8_0*, float*)>
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

// roundf (half away from zero) of each lane: trunc, then step away from zero when the
// dropped fraction (exact for |v| < 2^23) is at least one half.
inline __m256 round_half_away(__m256 v) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
  const __m256 step = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f));
  return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
}

void quantize_q8_0(const float* x, void* dst, int64_t k) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < k / kQK; ++b) {
    __m256 v[4];
    for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(x + b * kQK + 8 * j);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
    const float amax = x86::hmax(m);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = to_f16(d);
    const __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    for (int j = 0; j < 4; ++j) q[j] = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v[j], idv)));
    // packs work within 128-bit lanes; the permutation restores element order
    const __m256i q16a = _mm256_packs_epi32(q[0], q[1]);
    const __m256i q16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b), perm);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), q8);
  }
}

}  // namespace

void register_vec_dot_legacy(VecDotTable& t) {
  t.by_weight[static_cast<size_t>(DType::Q4_0)] =
      VecDotKernel{DType::Q8_0, dot<q4_0_nr<1>, q4_0_nr<2>, q4_0_nr<3>, q4_0_nr<4>>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::Q8_0)] =
      VecDotKernel{DType::Q8_0, dot<q8_0_nr<1>, q8_0_nr<2>, q8_0_nr<3>, q8_0_nr<4>>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::Q4_1)] = VecDotKernel{
      DType::Q8_0, dot<legacy_nr<Q4_1Fmt, 1>, legacy_nr<Q4_1Fmt, 2>, legacy_nr<Q4_1Fmt, 3>, legacy_nr<Q4_1Fmt, 4>>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::Q5_0)] = VecDotKernel{
      DType::Q8_0, dot<legacy_nr<Q5_0Fmt, 1>, legacy_nr<Q5_0Fmt, 2>, legacy_nr<Q5_0Fmt, 3>, legacy_nr<Q5_0Fmt, 4>>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::Q5_1)] = VecDotKernel{
      DType::Q8_0, dot<legacy_nr<Q5_1Fmt, 1>, legacy_nr<Q5_1Fmt, 2>, legacy_nr<Q5_1Fmt, 3>, legacy_nr<Q5_1Fmt, 4>>, kMaxRows};
  t.act_quantize[static_cast<size_t>(DType::Q8_0)] = quantize_q8_0;
}

}  // namespace tandem::avx2
