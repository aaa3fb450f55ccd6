// AVX-512 weighted value rows: 16 dimensions per vector; up to 4 heads x 64 dimensions of
// accumulators stay in registers while every row of the range is read once.
#include <immintrin.h>

#include "core/half.h"
#include "core/quant_blocks.h"
#include "kernels/attention.h"

namespace tandem::avx512 {
namespace {

struct LoadF32 {
  static __m512 load(const char* row, int64_t d) { return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + d); }
};
struct LoadF16 {
  static __m512 load(const char* row, int64_t d) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + d * 2)));
  }
};
struct LoadQ8_0 {  // 16 values of a 32-value block: d * q
  static __m512 load(const char* row, int64_t d) {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(row) + d / kQK;
    const __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs + d % kQK))));
    return _mm512_mul_ps(q, _mm512_set1_ps(to_f32(b->d)));
  }
};

// NV vectors of dimensions [d0, d0 + 16 NV) for HN heads [h0, h0 + HN).
template <class L, int NV, int HN>
void block(const char* rows, size_t stride, int64_t n, const float* p, size_t p_stride, float* out, int64_t dv,
           int64_t d0, int h0) {
  __m512 acc[HN][NV];
  for (int h = 0; h < HN; ++h)
    for (int k = 0; k < NV; ++k) acc[h][k] = _mm512_loadu_ps(out + (h0 + h) * dv + d0 + 16 * k);
  for (int64_t j = 0; j < n; ++j) {
    const char* row = rows + static_cast<size_t>(j) * stride;
    __m512 v[NV];
    for (int k = 0; k < NV; ++k) v[k] = L::load(row, d0 + 16 * k);
    for (int h = 0; h < HN; ++h) {
      const __m512 w = _mm512_set1_ps(p[static_cast<size_t>(h0 + h) * p_stride + static_cast<size_t>(j)]);
      for (int k = 0; k < NV; ++k) acc[h][k] = _mm512_fmadd_ps(w, v[k], acc[h][k]);
    }
  }
  for (int h = 0; h < HN; ++h)
    for (int k = 0; k < NV; ++k) _mm512_storeu_ps(out + (h0 + h) * dv + d0 + 16 * k, acc[h][k]);
}

template <class L, int NV>
void heads(const char* rows, size_t stride, int64_t n, const float* p, size_t p_stride, int nh, float* out, int64_t dv,
           int64_t d0) {
  int h0 = 0;
  for (; h0 + 4 <= nh; h0 += 4) block<L, NV, 4>(rows, stride, n, p, p_stride, out, dv, d0, h0);
  switch (nh - h0) {
    case 3: block<L, NV, 3>(rows, stride, n, p, p_stride, out, dv, d0, h0); break;
    case 2: block<L, NV, 2>(rows, stride, n, p, p_stride, out, dv, d0, h0); break;
    case 1: block<L, NV, 1>(rows, stride, n, p, p_stride, out, dv, d0, h0); break;
    default: break;
  }
}

template <class L, DType T>
void weighted_rows(const void* rows, size_t stride, int64_t n, const float* p, size_t p_stride, int nh, float* out,
                   int64_t dv) {
  if (dv % 16 != 0) {  // no whole vectors: the reference
    attention_ops(Isa::Scalar).weighted_rows[static_cast<size_t>(T)](rows, stride, n, p, p_stride, nh, out, dv);
    return;
  }
  const char* r = static_cast<const char*>(rows);
  int64_t d0 = 0;
  for (; d0 + 64 <= dv; d0 += 64) heads<L, 4>(r, stride, n, p, p_stride, nh, out, dv, d0);
  for (; d0 < dv; d0 += 16) heads<L, 1>(r, stride, n, p, p_stride, nh, out, dv, d0);
}

}  // namespace

void register_attention_ops(AttentionOps& ops) {
  ops.weighted_rows[static_cast<size_t>(DType::F32)] = weighted_rows<LoadF32, DType::F32>;
  ops.weighted_rows[static_cast<size_t>(DType::F16)] = weighted_rows<LoadF16, DType::F16>;
  ops.weighted_rows[static_cast<size_t>(DType::Q8_0)] = weighted_rows<LoadQ8_0, DType::Q8_0>;
}

}  // namespace tandem::avx512
