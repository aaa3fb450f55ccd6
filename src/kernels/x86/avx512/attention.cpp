// AVX-512 weighted value rows (x86/attention_simd.h): 16 dimensions per vector; blocks of 4
// heads x 64 dimensions (16 accumulators) in registers.
#include <immintrin.h>

#include "core/half.h"
#include "core/quant_blocks.h"
#include "kernels/x86/attention_simd.h"

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

}  // namespace

void register_attention_ops(AttentionOps& ops) {
  simd::register_weighted_rows<V>(ops);
  register_key_scores(ops);
}

}  // namespace tandem::avx512
