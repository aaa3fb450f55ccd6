// AVX-512 VNNI: Q8_0, Q4_0 (and Q4_1, Q5_0, Q5_1) weights . Q8_0 activations, up to 4 rows at
// once sharing each activation block; multi-token tiles for Q4_0 / Q8_0; and the Q8_0
// activation quantizer (same bytes as the scalar one).
//
// vpdpbusd multiplies unsigned by signed bytes, so both formats are shifted to unsigned and
// the shift is taken back through the accumulator's start value, computed once per
// activation block and shared by every row:
//   Q4_0: sum (q - 8) * a   = dpbusd(-8 * sum4(a),   q,        a)   q in [0, 15]
//   Q8_0: sum w * a         = dpbusd(-128 * sum4(a), w ^ 0x80, a)   w ^ 0x80 = w + 128
// (sum4 = sums of each 4 consecutive bytes, one per int32 lane; every value is exact.)

#include <immintrin.h>

#include "kernels/x86/simd_util.h"

#include <array>
#include <cstring>
#include <utility>

#include "core/quant_blocks.h"
#include "kernels/vec_dot.h"

namespace tandem::avx512 {
namespace {

constexpr int kMaxRows = 4;
// Rows are short (a few KiB) and walked NR at a time: too short for the hardware prefetcher to
// ramp up on each. So every other block each row prefetches (into L2) the same place 2 * NR
// rows further on, i.e. two chunks of rows ahead. Measured on Zen 4, 2 threads: Q4_0 gemv from
// ~12 to ~25 GB/s (L1 hint or one chunk ahead: ~20).
constexpr int kPrefetchChunks = 2;

using x86::hsum;

inline float f16_to_f32(f16 h) { return _cvtsh_ss(h.bits); }

// [NR rows][nb] q4_0 . [nb] q8_0 -> out[NR]
// The 16 packed bytes go to both halves of a ymm (a load, no shuffle); the low half keeps the
// low nibbles (elements 0..15), the high half the high nibbles unshifted, i.e. 16 * q in
// [0, 240] (elements 16..31). The high lanes' start value is -128 * sum4(a) = 16 * (-8) * sum4(a)
// and their scale d_a / 16 (exact), so each lane holds sum (q - 8) * a times d_w * d_a.
template <int NR>
void q4_0_nr(int64_t nb, const char* w, size_t w_stride, const BlockQ8_0* a, float* out) {
  const __m256i mask = _mm256_set_epi64x(0xf0f0f0f0f0f0f0f0ll, 0xf0f0f0f0f0f0f0f0ll,
                                         0x0f0f0f0f0f0f0f0fll, 0x0f0f0f0f0f0f0f0fll);
  const __m256i off = _mm256_set_epi64x(static_cast<int64_t>(0x8080808080808080ull),
                                        static_cast<int64_t>(0x8080808080808080ull),
                                        0x0808080808080808ll, 0x0808080808080808ll);
  const __m256i zero = _mm256_setzero_si256();
  const size_t ahead = kPrefetchChunks * NR * w_stride;
  __m256 acc[NR];
  for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
    const __m256i init = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, off, av));
    const float da = f16_to_f32(a[b].d);
    const __m256 sa = _mm256_set_m128(_mm_set1_ps(da * 0.0625f), _mm_set1_ps(da));
    for (int r = 0; r < NR; ++r) {
      const auto* x = reinterpret_cast<const BlockQ4_0*>(w + static_cast<size_t>(r) * w_stride) + b;
      if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(x) + ahead, _MM_HINT_T1);
      const __m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x->qs)));
      const __m256 p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(init, _mm256_and_si256(q, mask), av));
      const __m256 dw = _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(x->d.bits)));
      acc[r] = _mm256_fmadd_ps(p, _mm256_mul_ps(dw, sa), acc[r]);
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = hsum(acc[r]);
}

// [NR rows][nb] q8_0 . [nb] q8_0 -> out[NR]
template <int NR>
void q8_0_nr(int64_t nb, const char* w, size_t w_stride, const BlockQ8_0* a, float* out) {
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i zero = _mm256_setzero_si256();
  const size_t ahead = kPrefetchChunks * NR * w_stride;
  __m256 acc[NR];
  for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
    const __m256i init = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, bias, av));
    const float da = f16_to_f32(a[b].d);
    for (int r = 0; r < NR; ++r) {
      const auto* x = reinterpret_cast<const BlockQ8_0*>(w + static_cast<size_t>(r) * w_stride) + b;
      if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(x) + ahead, _MM_HINT_T1);
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs));
      const __m256 p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(init, _mm256_xor_si256(wv, bias), av));
      acc[r] = _mm256_fmadd_ps(p, _mm256_set1_ps(f16_to_f32(x->d) * da), acc[r]);
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = hsum(acc[r]);
}

// The other legacy formats, unpacked to unsigned q in [0, 15] or [0, 31] (nibbles by shift and
// mask, the fifth bit from qh by a byte mask), offsets through the start value as above, and
// the min term of Q4_1 / Q5_1 as m_w * d_a * sum4(a) per lane (sum4(a) shared by all rows).
template <typename Block, int kOffset, bool kFifthBit, bool kMin>
struct LegacyFmt {
  static __m256i unpack(const Block& x) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.qs));
    __m256i v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
    if constexpr (kFifthBit) {
      uint32_t qh;
      std::memcpy(&qh, x.qh, 4);
      v = _mm256_or_si256(v, _mm256_maskz_mov_epi8(qh, _mm256_set1_epi8(0x10)));
    }
    return v;
  }
};
using Q4_1Fmt = LegacyFmt<BlockQ4_1, 0, false, true>;
using Q5_0Fmt = LegacyFmt<BlockQ5_0, 16, true, false>;
using Q5_1Fmt = LegacyFmt<BlockQ5_1, 0, true, true>;

template <typename Fmt> struct FmtTraits;
template <typename B, int O, bool F, bool M>
struct FmtTraits<LegacyFmt<B, O, F, M>> {
  using Block = B;
  static constexpr int kOffset = O;
  static constexpr bool kMin = M;
};

// [NR rows][nb] q4_1 / q5_0 / q5_1 . [nb] q8_0 -> out[NR]
template <typename Fmt, int NR>
void legacy_nr(int64_t nb, const char* w, size_t w_stride, const BlockQ8_0* a, float* out) {
  using T = FmtTraits<Fmt>;
  using Block = typename T::Block;
  const __m256i zero = _mm256_setzero_si256();
  const size_t ahead = kPrefetchChunks * NR * w_stride;
  __m256 acc[NR];
  for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
    const float da = f16_to_f32(a[b].d);
    __m256i init = zero;
    if constexpr (T::kOffset != 0)
      init = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(T::kOffset), av));
    __m256 sda = _mm256_setzero_ps();  // d_a * sum4(a) per lane
    if constexpr (T::kMin)
      sda = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_dpbusd_epi32(zero, _mm256_set1_epi8(1), av)), _mm256_set1_ps(da));
    for (int r = 0; r < NR; ++r) {
      const auto& x = reinterpret_cast<const Block*>(w + static_cast<size_t>(r) * w_stride)[b];
      if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(&x) + ahead, _MM_HINT_T1);
      const __m256 p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(init, Fmt::unpack(x), av));
      acc[r] = _mm256_fmadd_ps(p, _mm256_set1_ps(f16_to_f32(x.d) * da), acc[r]);
      if constexpr (T::kMin) acc[r] = _mm256_fmadd_ps(sda, _mm256_set1_ps(f16_to_f32(x.m)), acc[r]);
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = hsum(acc[r]);
}

using RowsFn = void (*)(int64_t, const char*, size_t, const BlockQ8_0*, float*);

// rows_fn<K>[n - 1] runs K's kernel on n rows.
template <template <int> class K, int... I>
constexpr std::array<RowsFn, sizeof...(I)> make_rows_fns(std::integer_sequence<int, I...>) {
  return {&K<I + 1>::run...};
}
template <template <int> class K>
constexpr auto rows_fns = make_rows_fns<K>(std::make_integer_sequence<int, kMaxRows>{});

template <template <int> class K>
void dot(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out) {
  const auto* a = static_cast<const BlockQ8_0*>(act);
  const auto* p = static_cast<const char*>(w);
  const int64_t nb = k / kQK;
  for (int r = 0; r < nr; r += kMaxRows) {
    const int n = nr - r < kMaxRows ? nr - r : kMaxRows;
    rows_fns<K>[n - 1](nb, p + static_cast<size_t>(r) * w_stride, w_stride, a, out + r);
  }
}

template <int NR>
struct Q4_0Rows {
  static void run(int64_t nb, const char* w, size_t s, const BlockQ8_0* a, float* out) { q4_0_nr<NR>(nb, w, s, a, out); }
};
template <typename Fmt>
struct LegacyRows {
  template <int NR>
  struct Of {
    static void run(int64_t nb, const char* w, size_t s, const BlockQ8_0* a, float* out) {
      legacy_nr<Fmt, NR>(nb, w, s, a, out);
    }
  };
};
template <int NR>
struct Q8_0Rows {
  static void run(int64_t nb, const char* w, size_t s, const BlockQ8_0* a, float* out) { q8_0_nr<NR>(nb, w, s, a, out); }
};

// ---- matrix x matrix tiles: NR rows x NT tokens, each weight block unpacked once ----------
// The per-(row, token) arithmetic is exactly that of q4_0_nr / q8_0_nr, so results match
// `dot` bit for bit.
constexpr int kMaxTokens = 4;

struct ActBlock {
  __m256i av, init;
  __m256 sa;
};

struct Q4_0Fmt {
  using Block = BlockQ4_0;
  static ActBlock act(const BlockQ8_0& a) {
    const __m256i off = _mm256_set_epi64x(static_cast<int64_t>(0x8080808080808080ull),
                                          static_cast<int64_t>(0x8080808080808080ull),
                                          0x0808080808080808ll, 0x0808080808080808ll);
    const __m256i zero = _mm256_setzero_si256();
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs));
    const float da = f16_to_f32(a.d);
    return {av, _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, off, av)),
            _mm256_set_m128(_mm_set1_ps(da * 0.0625f), _mm_set1_ps(da))};
  }
  static __m256i weights(const Block& x) {
    const __m256i mask = _mm256_set_epi64x(0xf0f0f0f0f0f0f0f0ll, 0xf0f0f0f0f0f0f0f0ll,
                                           0x0f0f0f0f0f0f0f0fll, 0x0f0f0f0f0f0f0f0fll);
    return _mm256_and_si256(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.qs))), mask);
  }
  static __m256 wscale(const Block& x) { return _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(x.d.bits))); }
};

struct Q8_0Fmt {
  using Block = BlockQ8_0;
  static ActBlock act(const BlockQ8_0& a) {
    const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
    const __m256i zero = _mm256_setzero_si256();
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs));
    return {av, _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, bias, av)), _mm256_set1_ps(f16_to_f32(a.d))};
  }
  static __m256i weights(const Block& x) {
    return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs)),
                            _mm256_set1_epi8(static_cast<char>(0x80)));
  }
  static __m256 wscale(const Block& x) { return _mm256_set1_ps(f16_to_f32(x.d)); }
};

// out[t * os + r] for r < NR, t < NT: [NR rows][nb] weights . [NT tokens][nb] q8_0 (act_t at
// act + t * as bytes)
template <typename F, int NR, int NT>
void gemm_tile(int64_t nb, const char* w, size_t ws, const char* act, size_t as, float* out, size_t os) {
  __m256 acc[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i q[NR];
    __m256 dw[NR];
    for (int r = 0; r < NR; ++r) {
      const auto& x = reinterpret_cast<const typename F::Block*>(w + static_cast<size_t>(r) * ws)[b];
      q[r] = F::weights(x);
      dw[r] = F::wscale(x);
    }
    for (int t = 0; t < NT; ++t) {
      const ActBlock a = F::act(reinterpret_cast<const BlockQ8_0*>(act + static_cast<size_t>(t) * as)[b]);
      for (int r = 0; r < NR; ++r) {
        const __m256 p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(a.init, q[r], a.av));
        acc[r][t] = _mm256_fmadd_ps(p, _mm256_mul_ps(dw[r], a.sa), acc[r][t]);
      }
    }
  }
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < NR; ++r) out[static_cast<size_t>(t) * os + r] = hsum(acc[r][t]);
}

using TileFn = void (*)(int64_t, const char*, size_t, const char*, size_t, float*, size_t);

// tiles<F>[(nr - 1) * kMaxTokens + (nt - 1)]
template <typename F, int... I>
constexpr std::array<TileFn, sizeof...(I)> make_tiles(std::integer_sequence<int, I...>) {
  return {&gemm_tile<F, I / kMaxTokens + 1, I % kMaxTokens + 1>...};
}
template <typename F>
constexpr auto tiles = make_tiles<F>(std::make_integer_sequence<int, kMaxRows * kMaxTokens>{});

template <typename F>
void gemm(int64_t k, const void* w, size_t w_stride, int nr, const void* act, size_t act_stride,
          int nt, float* out, size_t out_stride) {
  const auto* wp = static_cast<const char*>(w);
  const auto* ap = static_cast<const char*>(act);
  for (int t = 0; t < nt; t += kMaxTokens) {
    const int mt = nt - t < kMaxTokens ? nt - t : kMaxTokens;
    for (int r = 0; r < nr; r += kMaxRows) {
      const int mr = nr - r < kMaxRows ? nr - r : kMaxRows;
      tiles<F>[(mr - 1) * kMaxTokens + (mt - 1)](k / kQK, wp + static_cast<size_t>(r) * w_stride, w_stride,
                                                 ap + static_cast<size_t>(t) * act_stride, act_stride,
                                                 out + static_cast<size_t>(t) * out_stride + r, out_stride);
    }
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
      VecDotKernel{DType::Q8_0, dot<Q4_0Rows>, kMaxRows, gemm<Q4_0Fmt>, kMaxTokens};
  t.by_weight[static_cast<size_t>(DType::Q8_0)] =
      VecDotKernel{DType::Q8_0, dot<Q8_0Rows>, kMaxRows, gemm<Q8_0Fmt>, kMaxTokens};
  t.by_weight[static_cast<size_t>(DType::Q4_1)] =
      VecDotKernel{DType::Q8_0, dot<LegacyRows<Q4_1Fmt>::Of>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::Q5_0)] =
      VecDotKernel{DType::Q8_0, dot<LegacyRows<Q5_0Fmt>::Of>, kMaxRows};
  t.by_weight[static_cast<size_t>(DType::Q5_1)] =
      VecDotKernel{DType::Q8_0, dot<LegacyRows<Q5_1Fmt>::Of>, kMaxRows};
  t.act_quantize[static_cast<size_t>(DType::Q8_0)] = quantize_q8_0;
}

}  // namespace tandem::avx512
