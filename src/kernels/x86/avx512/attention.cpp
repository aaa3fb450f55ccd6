// AVX-512 attention kernels. Weighted value rows (x86/attention_simd.h): 16 dimensions per
// vector; blocks of 4 heads x 64 dimensions (16 accumulators) in registers. Key scores for f32
// and f16 keys (kernels/attention.h): a tile of HP heads x 16 / HP keys keeps its 16
// accumulators in registers (each key row converted once for all HP heads, the queries read from
// L1) and ends in one shuffle tree that leaves the 16 scores in order in one vector, where the
// float gemm's tiles end in up to 16 scalar sums and stores. Elements are accumulated in order
// and each sum reduced in reduce_many's fixed order, so every score has the bits the F32/F16
// gemm kernel gives (tests/kernels/test_attention.cpp).
#include <immintrin.h>

#include <algorithm>

#include "core/half.h"
#include "core/quant_blocks.h"
#include "kernels/x86/attention_simd.h"
#include "kernels/x86/avx512/reduce_many.h"

namespace tandem::avx512 {
namespace {

struct V {
  using T = __m512;
  static constexpr int N = 16, kHeads = 4, kVectors = 4;
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static T bcast(const float* p) { return _mm512_set1_ps(*p); }
  static T fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static void prefetch(const char* p) { _mm_prefetch(p, _MM_HINT_T0); }
  static T zero() { return _mm512_setzero_ps(); }
  template <DType D> struct Load;
};
template <> struct V::Load<DType::F32> {
  static size_t bytes(int64_t d) { return static_cast<size_t>(d) * 4; }
  static T load(const char* row, int64_t d) { return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + d); }
};
template <> struct V::Load<DType::F16> {
  static size_t bytes(int64_t d) { return static_cast<size_t>(d) * 2; }
  static T load(const char* row, int64_t d) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + d * 2)));
  }
};
template <> struct V::Load<DType::Q8_0> {  // 16 values of a 32-value block: d * q
  static size_t bytes(int64_t d) { return static_cast<size_t>(d / kQK) * sizeof(BlockQ8_0); }
  static T load(const char* row, int64_t d) {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(row) + d / kQK;
    const __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs + d % kQK))));
    return _mm512_mul_ps(q, _mm512_set1_ps(to_f32(b->d)));
  }
};

// Heads [h0, h0 + HP) over keys [0, n), 16 / HP keys a tile. The last tile's missing keys
// re-read the last key; their lanes are not stored. Key rows are prefetched as value rows are
// (simd::kAhead rows on).
template <DType T, int HP>
void score_heads(int64_t hd, const char* keys, size_t krow, int64_t n, const float* q, int h0, float* s,
                 size_t s_stride) {
  constexpr int kKeys = 16 / HP;
  for (int64_t j = 0; j < n; j += kKeys) {
    const int64_t m = std::min<int64_t>(kKeys, n - j);
    const char* row[kKeys];
#pragma GCC unroll 16
    for (int k = 0; k < kKeys; ++k) row[k] = keys + static_cast<size_t>(std::min<int64_t>(j + k, n - 1)) * krow;
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = V::zero();
    for (int64_t d = 0; d < hd; d += 16) {
      __m512 qv[HP];
#pragma GCC unroll 16
      for (int h = 0; h < HP; ++h) qv[h] = V::load(q + (h0 + h) * hd + d);
#pragma GCC unroll 16
      for (int k = 0; k < kKeys; ++k) {
        V::prefetch(row[k] + simd::kAhead * krow + V::Load<T>::bytes(d));
        const __m512 kv = V::Load<T>::load(row[k], d);
#pragma GCC unroll 16
        for (int h = 0; h < HP; ++h) acc[h * kKeys + k] = V::fmadd(kv, qv[h], acc[h * kKeys + k]);
      }
    }
    const __m512 sums = reduce_16(acc);  // lane h * kKeys + k: head h0 + h, key j + k
    const __mmask16 keep = static_cast<__mmask16>((1u << m) - 1);
    _mm512_mask_storeu_ps(s + static_cast<size_t>(h0) * s_stride + j, keep, sums);
    if constexpr (HP > 1) {  // head h's lanes rotated down to lane 0
      const __m512i v = _mm512_castps_si512(sums);
      _mm512_mask_storeu_ps(s + static_cast<size_t>(h0 + 1) * s_stride + j, keep,
                            _mm512_castsi512_ps(_mm512_alignr_epi32(v, v, kKeys)));
      if constexpr (HP > 2) {
        _mm512_mask_storeu_ps(s + static_cast<size_t>(h0 + 2) * s_stride + j, keep,
                              _mm512_castsi512_ps(_mm512_alignr_epi32(v, v, 2 * kKeys)));
        _mm512_mask_storeu_ps(s + static_cast<size_t>(h0 + 3) * s_stride + j, keep,
                              _mm512_castsi512_ps(_mm512_alignr_epi32(v, v, 3 * kKeys)));
      }
    }
  }
}

template <DType T>
void key_scores(int64_t hd, const void* keys, size_t krow, int64_t n, const float* q, int nh, float* s,
                size_t s_stride) {
  const char* k = static_cast<const char*>(keys);
  int h = 0;
  for (; h + 4 <= nh; h += 4) score_heads<T, 4>(hd, k, krow, n, q, h, s, s_stride);
  for (; h + 2 <= nh; h += 2) score_heads<T, 2>(hd, k, krow, n, q, h, s, s_stride);
  for (; h < nh; ++h) score_heads<T, 1>(hd, k, krow, n, q, h, s, s_stride);
}

}  // namespace

void register_attention_ops(AttentionOps& ops) {
  simd::register_weighted_rows<V>(ops);
  ops.key_scores[static_cast<size_t>(DType::F32)] = key_scores<DType::F32>;
  ops.key_scores[static_cast<size_t>(DType::F16)] = key_scores<DType::F16>;
}

}  // namespace tandem::avx512
