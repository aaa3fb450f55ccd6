// AVX2 weighted value rows (x86/attention_simd.h): 8 dimensions per vector; blocks of 3 heads x
// 32 dimensions (12 accumulators) in registers.
#include <immintrin.h>

#include "core/quant_blocks.h"
#include "kernels/x86/attention_simd.h"

namespace tandem::avx2 {
namespace {

struct V {
  using T = __m256;
  static constexpr int N = 8, kHeads = 3, kVectors = 4;
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static T bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static void prefetch(const char* p) { _mm_prefetch(p, _MM_HINT_T0); }
  static T zero() { return _mm256_setzero_ps(); }
  template <DType D> struct Load;
};
template <> struct V::Load<DType::F32> {
  static size_t bytes(int64_t d) { return static_cast<size_t>(d) * 4; }
  static T load(const char* row, int64_t d) { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + d); }
};
template <> struct V::Load<DType::F16> {
  static size_t bytes(int64_t d) { return static_cast<size_t>(d) * 2; }
  static T load(const char* row, int64_t d) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + d * 2)));
  }
};
template <> struct V::Load<DType::Q8_0> {  // 8 values of a 32-value block: d * q
  static size_t bytes(int64_t d) { return static_cast<size_t>(d / kQK) * sizeof(BlockQ8_0); }
  static T load(const char* row, int64_t d) {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(row) + d / kQK;
    const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b->qs + d % kQK))));
    return _mm256_mul_ps(q, _mm256_set1_ps(_cvtsh_ss(b->d.bits)));
  }
};

}  // namespace

void register_attention_ops(AttentionOps& ops) { simd::register_weighted_rows<V>(ops); }

}  // namespace tandem::avx2
