// AVX-512 key scores for attention (kernels/attention.h): s[h][j] = key_j . q_h for the query
// heads of one GQA group, F32 or F16 keys of a head width that is a multiple of 16. A tile of
// HP heads x 16 / HP keys keeps its 16 accumulators in registers (each key row converted once
// for all HP heads, the queries read from L1) and ends in one shuffle tree that leaves the 16
// scores in order in one vector: the float gemm's tiles end in up to 16 scalar sums and stores.
// Elements are accumulated in order and each sum reduced in reduce_many's fixed order, so every
// score has the bits the F32/F16 gemm kernel gives (tests/kernels/test_attention.cpp).

#include <immintrin.h>

#include <algorithm>

#include "kernels/attention.h"
#include "kernels/x86/avx512/reduce_many.h"

namespace tandem::avx512 {
namespace {

struct KeysF32 {
  static constexpr int kBytes = 4;
  static __m512 load(const char* row, int64_t d) { return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + d); }
};
struct KeysF16 {
  static constexpr int kBytes = 2;
  static __m512 load(const char* row, int64_t d) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + d * 2)));
  }
};

// Keys are read from L3 more often than not (a sequence's KV blocks between its steps): each
// tile prefetches the rows kAhead further on (past the last row too: a prefetch never faults).
constexpr int64_t kAhead = 16;

// Heads [h0, h0 + HP) over keys [0, n), 16 / HP keys a tile. The last tile's missing keys
// re-read the last key; their lanes are not stored.
template <class K, int HP>
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
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
    for (int64_t d = 0; d < hd; d += 16) {
      __m512 qv[HP];
#pragma GCC unroll 16
      for (int h = 0; h < HP; ++h) qv[h] = _mm512_loadu_ps(q + (h0 + h) * hd + d);
#pragma GCC unroll 16
      for (int k = 0; k < kKeys; ++k) {
        _mm_prefetch(row[k] + kAhead * krow + d * K::kBytes, _MM_HINT_T0);
        const __m512 kv = K::load(row[k], d);
#pragma GCC unroll 16
        for (int h = 0; h < HP; ++h) acc[h * kKeys + k] = _mm512_fmadd_ps(kv, qv[h], acc[h * kKeys + k]);
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

template <class K>
void key_scores(int64_t hd, const void* keys, size_t krow, int64_t n, const float* q, int nh, float* s,
                size_t s_stride) {
  const char* k = static_cast<const char*>(keys);
  int h = 0;
  for (; h + 4 <= nh; h += 4) score_heads<K, 4>(hd, k, krow, n, q, h, s, s_stride);
  for (; h + 2 <= nh; h += 2) score_heads<K, 2>(hd, k, krow, n, q, h, s, s_stride);
  for (; h < nh; ++h) score_heads<K, 1>(hd, k, krow, n, q, h, s, s_stride);
}

}  // namespace

void register_key_scores(AttentionOps& ops) {
  ops.key_scores[static_cast<size_t>(DType::F32)] = key_scores<KeysF32>;
  ops.key_scores[static_cast<size_t>(DType::F16)] = key_scores<KeysF16>;
}

}  // namespace tandem::avx512
