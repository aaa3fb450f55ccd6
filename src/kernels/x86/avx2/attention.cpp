// AVX2 weighted value rows: 8 dimensions per vector; 3 heads x 32 dimensions of accumulators
// (12 registers) stay in registers while every row of the range is read once.
#include <immintrin.h>

#include "core/half.h"
#include "core/quant_blocks.h"
#include "kernels/attention.h"

namespace tandem::avx2 {
namespace {

struct LoadF32 {
  static __m256 load(const char* row, int64_t d) { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + d); }
};
struct LoadF16 {
  static __m256 load(const char* row, int64_t d) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + d * 2)));
  }
};
struct LoadQ8_0 {  // 8 values of a 32-value block: d * q
  static __m256 load(const char* row, int64_t d) {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(row) + d / kQK;
    const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b->qs + d % kQK))));
    return _mm256_mul_ps(q, _mm256_set1_ps(_cvtsh_ss(b->d.bits)));
  }
};

// NV vectors of dimensions [d0, d0 + 8 NV) for HN heads [h0, h0 + HN).
template <class L, int NV, int HN>
void block(const char* rows, size_t stride, int64_t n, const float* p, size_t p_stride, float* out, int64_t dv,
           int64_t d0, int h0) {
  __m256 acc[HN][NV];
  for (int h = 0; h < HN; ++h)
    for (int k = 0; k < NV; ++k) acc[h][k] = _mm256_loadu_ps(out + (h0 + h) * dv + d0 + 8 * k);
  for (int64_t j = 0; j < n; ++j) {
    const char* row = rows + static_cast<size_t>(j) * stride;
    __m256 v[NV];
    for (int k = 0; k < NV; ++k) v[k] = L::load(row, d0 + 8 * k);
    for (int h = 0; h < HN; ++h) {
      const __m256 w = _mm256_broadcast_ss(p + static_cast<size_t>(h0 + h) * p_stride + static_cast<size_t>(j));
      for (int k = 0; k < NV; ++k) acc[h][k] = _mm256_fmadd_ps(w, v[k], acc[h][k]);
    }
  }
  for (int h = 0; h < HN; ++h)
    for (int k = 0; k < NV; ++k) _mm256_storeu_ps(out + (h0 + h) * dv + d0 + 8 * k, acc[h][k]);
}

template <class L, int NV>
void heads(const char* rows, size_t stride, int64_t n, const float* p, size_t p_stride, int nh, float* out, int64_t dv,
           int64_t d0) {
  int h0 = 0;
  for (; h0 + 3 <= nh; h0 += 3) block<L, NV, 3>(rows, stride, n, p, p_stride, out, dv, d0, h0);
  switch (nh - h0) {
    case 2: block<L, NV, 2>(rows, stride, n, p, p_stride, out, dv, d0, h0); break;
    case 1: block<L, NV, 1>(rows, stride, n, p, p_stride, out, dv, d0, h0); break;
    default: break;
  }
}

template <class L, DType T>
void weighted_rows(const void* rows, size_t stride, int64_t n, const float* p, size_t p_stride, int nh, float* out,
                   int64_t dv) {
  if (dv % 8 != 0) {  // no whole vectors: the reference
    attention_ops(Isa::Scalar).weighted_rows[static_cast<size_t>(T)](rows, stride, n, p, p_stride, nh, out, dv);
    return;
  }
  const char* r = static_cast<const char*>(rows);
  int64_t d0 = 0;
  for (; d0 + 32 <= dv; d0 += 32) heads<L, 4>(r, stride, n, p, p_stride, nh, out, dv, d0);
  for (; d0 < dv; d0 += 8) heads<L, 1>(r, stride, n, p, p_stride, nh, out, dv, d0);
}

}  // namespace

void register_attention_ops(AttentionOps& ops) {
  ops.weighted_rows[static_cast<size_t>(DType::F32)] = weighted_rows<LoadF32, DType::F32>;
  ops.weighted_rows[static_cast<size_t>(DType::F16)] = weighted_rows<LoadF16, DType::F16>;
  ops.weighted_rows[static_cast<size_t>(DType::Q8_0)] = weighted_rows<LoadQ8_0, DType::Q8_0>;
}

}  // namespace tandem::avx2
