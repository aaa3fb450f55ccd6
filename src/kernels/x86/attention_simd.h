// The weighted value rows of attention (kernels/attention.h) written once over a vector-traits
// type V, instantiated by x86/avx2/attention.cpp (8 floats) and x86/avx512/attention.cpp (16
// floats) with their own compiler flags. A block of HN heads x NV vectors of dimensions keeps its
// accumulators in registers while every row of the range is read once. Include only from those
// two files.
//
// V provides: T (vector), N (floats per vector), load/store (unaligned), bcast (one float to
// all lanes), fmadd (a*b+c), kHeads / kVectors (the block that fits the register file), and a
// loader per KV dtype: V::Load<DType>::load(row, d) gives N values of a row from element d on.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/attention.h"

namespace tandem::simd {

// NV vectors of dimensions [d0, d0 + N NV) for HN heads [h0, h0 + HN).
template <class V, class L, int NV, int HN>
void attention_block(const char* rows, size_t stride, int64_t n, const float* p, size_t p_stride, float* out,
                     int64_t dv, int64_t d0, int h0) {
  typename V::T acc[HN][NV];
  for (int h = 0; h < HN; ++h)
    for (int k = 0; k < NV; ++k) acc[h][k] = V::load(out + (h0 + h) * dv + d0 + V::N * k);
  for (int64_t j = 0; j < n; ++j) {
    const char* row = rows + static_cast<size_t>(j) * stride;
    typename V::T v[NV];
    for (int k = 0; k < NV; ++k) v[k] = L::load(row, d0 + V::N * k);
    for (int h = 0; h < HN; ++h) {
      const typename V::T w = V::bcast(p + static_cast<size_t>(h0 + h) * p_stride + static_cast<size_t>(j));
      for (int k = 0; k < NV; ++k) acc[h][k] = V::fmadd(w, v[k], acc[h][k]);
    }
  }
  for (int h = 0; h < HN; ++h)
    for (int k = 0; k < NV; ++k) V::store(out + (h0 + h) * dv + d0 + V::N * k, acc[h][k]);
}

// All nh heads in blocks of V::kHeads, then the rest one block each.
template <class V, class L, int NV, int HN = V::kHeads>
void attention_heads(const char* rows, size_t stride, int64_t n, const float* p, size_t p_stride, int nh,
                     float* out, int64_t dv, int64_t d0, int h0 = 0) {
  if constexpr (HN > 0) {
    for (; h0 + HN <= nh; h0 += HN) attention_block<V, L, NV, HN>(rows, stride, n, p, p_stride, out, dv, d0, h0);
    attention_heads<V, L, NV, HN - 1>(rows, stride, n, p, p_stride, nh, out, dv, d0, h0);
  }
}

template <class V, DType T>
void weighted_rows(const void* rows, size_t stride, int64_t n, const float* p, size_t p_stride, int nh, float* out,
                   int64_t dv) {
  using L = typename V::template Load<T>;
  if (dv % V::N != 0) {  // no whole vectors: the reference
    attention_ops(Isa::Scalar).weighted_rows[static_cast<size_t>(T)](rows, stride, n, p, p_stride, nh, out, dv);
    return;
  }
  const char* r = static_cast<const char*>(rows);
  constexpr int64_t kWide = V::N * V::kVectors;
  int64_t d0 = 0;
  for (; d0 + kWide <= dv; d0 += kWide) attention_heads<V, L, V::kVectors>(r, stride, n, p, p_stride, nh, out, dv, d0);
  for (; d0 < dv; d0 += V::N) attention_heads<V, L, 1>(r, stride, n, p, p_stride, nh, out, dv, d0);
}

template <class V>
void register_weighted_rows(AttentionOps& ops) {
  ops.weighted_rows[static_cast<size_t>(DType::F32)] = weighted_rows<V, DType::F32>;
  ops.weighted_rows[static_cast<size_t>(DType::F16)] = weighted_rows<V, DType::F16>;
  ops.weighted_rows[static_cast<size_t>(DType::Q8_0)] = weighted_rows<V, DType::Q8_0>;
}

}  // namespace tandem::simd
