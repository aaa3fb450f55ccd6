// The weighted value rows of attention (kernels/attention.h) written once over a vector-traits
// type V, instantiated by x86/avx2/attention.cpp (8 floats) and x86/avx512/attention.cpp (16
// floats) with their own compiler flags. A block of HN heads x NV vectors of dimensions keeps its
// accumulators in registers while every row of the range is read once. Include only from those
// two files.
//
// V provides: T (vector), N (floats per vector), load/store (unaligned), zero, bcast (one float
// to all lanes), fmadd (a*b+c), add, prefetch (a line into L1), kHeads / kVectors (the block
// that fits the register file), and a loader per KV dtype: V::Load<DType>::load(row, d) gives
// N values of a row from element d on, V::Load<DType>::bytes(d) the byte offset of element d.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/attention.h"

namespace tandem::simd {

// Key and value rows come from L3 more often than not (a sequence's KV blocks between its
// steps): each is prefetched kAhead rows before its use (past the last row too: a prefetch
// never faults).
constexpr int64_t kAhead = 16;

// NV vectors of dimensions [d0, d0 + N NV) for HN heads [h0, h0 + HN). A block of few
// accumulators (HN NV < 8: small head widths, small GQA groups) would wait on each FMA's
// latency, so rows are dealt round-robin to S sets of accumulators, summed at the end.

template <class V, class L, int NV, int HN>
void attention_block(const char* rows, size_t stride, int64_t n, const float* p, size_t p_stride, float* out,
                     int64_t dv, int64_t d0, int h0) {
  constexpr int S = HN * NV >= 8 ? 1 : HN * NV >= 4 ? 2 : 4;
  typename V::T acc[S][HN][NV];
#pragma GCC unroll 16
  for (int h = 0; h < HN; ++h)
    for (int k = 0; k < NV; ++k) {
      acc[0][h][k] = V::load(out + (h0 + h) * dv + d0 + V::N * k);
      for (int s = 1; s < S; ++s) acc[s][h][k] = V::zero();
    }
  auto row_into = [&](int s, int64_t j) __attribute__((always_inline)) {
    const char* row = rows + static_cast<size_t>(j) * stride;
    V::prefetch(row + kAhead * stride + L::bytes(d0));  // both ends of the block's span of the row
    V::prefetch(row + kAhead * stride + L::bytes(d0 + V::N * NV) - 1);
    typename V::T v[NV];
#pragma GCC unroll 16
    for (int k = 0; k < NV; ++k) v[k] = L::load(row, d0 + V::N * k);
#pragma GCC unroll 16
    for (int h = 0; h < HN; ++h) {
      const typename V::T w = V::bcast(p + static_cast<size_t>(h0 + h) * p_stride + static_cast<size_t>(j));
#pragma GCC unroll 16
      for (int k = 0; k < NV; ++k) acc[s][h][k] = V::fmadd(w, v[k], acc[s][h][k]);
    }
  };
  int64_t j = 0;
  for (; j + S <= n; j += S)
#pragma GCC unroll 16
    for (int s = 0; s < S; ++s) row_into(s, j + s);
  for (int s = 0; j < n; ++j, ++s) row_into(s, j);
  for (int h = 0; h < HN; ++h)
    for (int k = 0; k < NV; ++k) {
      for (int s = 1; s < S; ++s) acc[0][h][k] = V::add(acc[0][h][k], acc[s][h][k]);
      V::store(out + (h0 + h) * dv + d0 + V::N * k, acc[0][h][k]);
    }
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

// Dimensions [d0, dv) in blocks of NV vectors, then the rest in the widest block that fits
// (a 32-wide head on AVX-512 is one block of two vectors, not two passes of one).
template <class V, class L, int NV>
void attention_dims(const char* rows, size_t stride, int64_t n, const float* p, size_t p_stride, int nh, float* out,
                    int64_t dv, int64_t d0) {
  if constexpr (NV > 0) {
    for (; d0 + V::N * NV <= dv; d0 += V::N * NV)
      attention_heads<V, L, NV>(rows, stride, n, p, p_stride, nh, out, dv, d0);
    attention_dims<V, L, NV - 1>(rows, stride, n, p, p_stride, nh, out, dv, d0);
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
  attention_dims<V, L, V::kVectors>(r, stride, n, p, p_stride, nh, out, dv, 0);
}

template <class V>
void register_weighted_rows(AttentionOps& ops) {
  ops.weighted_rows[static_cast<size_t>(DType::F32)] = weighted_rows<V, DType::F32>;
  ops.weighted_rows[static_cast<size_t>(DType::F16)] = weighted_rows<V, DType::F16>;
  ops.weighted_rows[static_cast<size_t>(DType::Q8_0)] = weighted_rows<V, DType::Q8_0>;
}

}  // namespace tandem::simd
