// AVX-512: F32 / F16 / BF16 weights . F32 activations, up to 4 rows x 4 tokens at once
// sharing the loads, masked tails. With AVX512-BF16 the BF16 kernel instead takes BF16
// activations (converted once per row by quantize_bf16, round to nearest even) and uses
// vdpbf16ps: its results differ from the F32-activation reference by the activation rounding
// (relative 2^-9 per element) plus summation order.

#include <immintrin.h>

#include <array>
#include <utility>

#include "core/half.h"
#include "kernels/vec_dot.h"
#include "kernels/x86/avx512/reduce_many.h"

namespace tandem::avx512 {
namespace {

constexpr int kMaxRows = 4;
constexpr int kMaxTokens = 4;

// Formats: kStep elements per step, loaded with a mask of the n (< kStep at the tail) valid
// ones (zero-filled), and the multiply-add into an f32 accumulator.
template <typename Widen, int kElemBytes>
struct FloatFmt {
  static constexpr int kStep = 16;
  static constexpr int kBytes = kElemBytes;
  using W = __m512;
  using A = __m512;
  static __mmask16 mask(int64_t n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1); }
  static W load_w(const char* row, int64_t i, __mmask16 m) { return Widen::load(row + i * kElemBytes, m); }
  static A load_a(const char* act, int64_t i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(act) + i);
  }
  static __m512 madd(__m512 acc, W w, A a) { return _mm512_fmadd_ps(w, a, acc); }
};
struct WidenF32 {
  static __m512 load(const char* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct WidenF16 {
  static __m512 load(const char* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
};
struct WidenBF16 {
  static __m512 load(const char* p, __mmask16 m) {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
};
using F32Fmt = FloatFmt<WidenF32, 4>;
using F16Fmt = FloatFmt<WidenF16, 2>;
using BF16F32Fmt = FloatFmt<WidenBF16, 2>;

// BF16 weights . BF16 activations: 32 products per vdpbf16ps.
struct BF16Fmt {
  static constexpr int kStep = 32;
  static constexpr int kBytes = 2;
  using W = __m512i;
  using A = __m512i;
  static __mmask32 mask(int64_t n) { return n >= 32 ? __mmask32(0xffffffffu) : __mmask32((1u << n) - 1); }
  static W load_w(const char* row, int64_t i, __mmask32 m) { return _mm512_maskz_loadu_epi16(m, row + i * 2); }
  static A load_a(const char* act, int64_t i, __mmask32 m) { return _mm512_maskz_loadu_epi16(m, act + i * 2); }
  static __m512 madd(__m512 acc, W w, A a) { return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)a); }
};

// The products of elements [i0, i1) for NR rows x NT tokens: [NR rows][k] weights (row r at
// w + r * ws bytes) . [NT][k] activations (row t at act + t * as bytes), one accumulator per
// (row, token), [t][r]. They start from zero on the first slice of k (else from acc_io); on the
// last (out not null) their sums go to out[t * out_stride + r], else back to acc_io. Elements
// are taken in order and each sum in reduce_many's fixed order, so a (row, token) result does
// not depend on NR, NT or how [0, k) is split: dot and gemm agree bit for bit. Each row
// prefetches (into L2) the same place 2 * NR rows further on.
template <typename F, int NR, int NT>
void tile(int64_t i0, int64_t i1, const char* w, size_t ws, const char* act, size_t as, __m512* acc_io, bool first,
          float* out, size_t out_stride) {
  // GCC keeps the accumulators in registers only if every loop over them is unrolled early
  // (the pragmas); otherwise it stores all of them on every step. Explicit loads and stores: a
  // plain copy loop becomes memcpy, which pins acc to the stack too.
  __m512 acc[NT * NR];
#pragma GCC unroll 16
  for (int j = 0; j < NT * NR; ++j)
    acc[j] = first ? _mm512_setzero_ps() : _mm512_load_ps(reinterpret_cast<const float*>(acc_io + j));
  // One step of kStep elements from i, loading with mask m: the full steps with a constant
  // mask, the tail (at most one step) with its own.
  auto step = [&](int64_t i, auto m) __attribute__((always_inline)) {
    typename F::W wv[NR];
#pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) {
      const char* row = w + static_cast<size_t>(r) * ws;
      _mm_prefetch(row + 2 * NR * ws + i * F::kBytes, _MM_HINT_T1);
      wv[r] = F::load_w(row, i, m);
    }
#pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) {
      const typename F::A av = F::load_a(act + static_cast<size_t>(t) * as, i, m);
#pragma GCC unroll 16
      for (int r = 0; r < NR; ++r) acc[t * NR + r] = F::madd(acc[t * NR + r], wv[r], av);
    }
  };
  int64_t i = i0;
  for (; i + F::kStep <= i1; i += F::kStep) step(i, F::mask(F::kStep));
  if (i < i1) step(i, F::mask(i1 - i));
  if (out == nullptr) {
#pragma GCC unroll 16
    for (int j = 0; j < NT * NR; ++j) _mm512_store_ps(reinterpret_cast<float*>(acc_io + j), acc[j]);
    return;
  }
  float sums[NT * NR];
  reduce_many<NT * NR>(acc, sums);
#pragma GCC unroll 16
  for (int t = 0; t < NT; ++t)
#pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) out[static_cast<size_t>(t) * out_stride + r] = sums[t * NR + r];
}

using TileFn = void (*)(int64_t, int64_t, const char*, size_t, const char*, size_t, __m512*, bool, float*, size_t);

// tiles<F>[(nr - 1) * kMaxTokens + (nt - 1)]
template <typename F, int... I>
constexpr std::array<TileFn, sizeof...(I)> make_tiles(std::integer_sequence<int, I...>) {
  return {&tile<F, I / kMaxTokens + 1, I % kMaxTokens + 1>...};
}
template <typename F>
constexpr auto tiles = make_tiles<F>(std::make_integer_sequence<int, kMaxRows * kMaxTokens>{});

// Blocks of up to kBlock rows x kBlock tokens; within a block, k is walked in slices of kSlice
// bytes of weight row so the block's slices of weights and activations stay in L1 while every
// (row, token) tile passes over them (accumulators wait in `acc` between slices; a k of one
// slice never stores them).
constexpr int kBlock = 4 * kMaxRows;
constexpr int64_t kSliceBytes = 512;

template <typename F>
void gemm(int64_t k, const void* w, size_t w_stride, int nr, const void* act, size_t act_stride,
          int nt, float* out, size_t out_stride) {
  const auto* wp = static_cast<const char*>(w);
  const auto* ap = static_cast<const char*>(act);
  const int64_t slice = nt == 1 ? k : kSliceBytes / F::kBytes;  // a multiple of kStep
  alignas(64) __m512 acc[kBlock * kBlock];
  for (int tb = 0; tb < nt; tb += kBlock) {
    const int bt = nt - tb < kBlock ? nt - tb : kBlock;
    for (int rb = 0; rb < nr; rb += kBlock) {
      const int br = nr - rb < kBlock ? nr - rb : kBlock;
      for (int64_t i0 = 0; i0 < k; i0 += slice) {
        const int64_t i1 = k - i0 < slice ? k : i0 + slice;
        for (int t = 0; t < bt; t += kMaxTokens) {
          const int mt = bt - t < kMaxTokens ? bt - t : kMaxTokens;
          for (int r = 0; r < br; r += kMaxRows) {
            const int mr = br - r < kMaxRows ? br - r : kMaxRows;
            float* o = i1 == k ? out + static_cast<size_t>(tb + t) * out_stride + rb + r : nullptr;
            tiles<F>[(mr - 1) * kMaxTokens + (mt - 1)](
                i0, i1, wp + static_cast<size_t>(rb + r) * w_stride, w_stride,
                ap + static_cast<size_t>(tb + t) * act_stride, act_stride, acc + (t * br + r * mt), i0 == 0, o,
                out_stride);
          }
        }
      }
    }
  }
}

template <typename F>
void dot(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out) {
  gemm<F>(k, w, w_stride, nr, act, 0, 1, out, 0);
}

// f32 -> bf16, round to nearest even, NaN kept quiet: the same bits as fp32_to_bf16 (done
// in integers, so denormals are not flushed as vcvtneps2bf16 would).
void quantize_bf16(const float* x, void* dst, int64_t k) {
  auto* y = static_cast<uint16_t*>(dst);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000);
  for (int64_t i = 0; i < k; i += 16) {
    const __mmask16 m = k - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (k - i)) - 1);
    const __m512i v = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(v, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(v, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(v, abs_mask), inf);
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(v, 16), _mm512_set1_epi32(0x40));
    _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtepi32_epi16(r));
  }
}

}  // namespace

void register_vec_dot_float(VecDotTable& t) {
  auto kernel = [](DType act, VecDotFn d, GemmFn g) { return VecDotKernel{act, d, kMaxRows, g, kMaxTokens}; };
  t.by_weight[static_cast<size_t>(DType::F32)] = kernel(DType::F32, dot<F32Fmt>, gemm<F32Fmt>);
  t.by_weight[static_cast<size_t>(DType::F16)] = kernel(DType::F32, dot<F16Fmt>, gemm<F16Fmt>);
  t.by_weight[static_cast<size_t>(DType::BF16)] = kernel(DType::F32, dot<BF16F32Fmt>, gemm<BF16F32Fmt>);
  if (cpu_has_avx512_bf16()) {
    t.by_weight[static_cast<size_t>(DType::BF16)] = kernel(DType::BF16, dot<BF16Fmt>, gemm<BF16Fmt>);
    t.act_quantize[static_cast<size_t>(DType::BF16)] = quantize_bf16;
  }
}

}  // namespace tandem::avx512
