// Attention's inner kernels over KV rows stored by position. The value half, for the query
// heads of one GQA group at once:
//   out[h * dv + d] += sum_{j < n} p[h * p_stride + j] * row_j[d]      (h < nh, d < dv)
// with row_j at rows + j * stride bytes in the KV dtype. Reading each value row once for all
// heads of the group, with the group's accumulators in registers, is what makes by-position
// value rows as fast as a transposed layout.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/isa.h"

namespace tandem {

using WeightedRowsFn = void (*)(const void* rows, size_t stride, int64_t n, const float* p, size_t p_stride,
                                int nh, float* out, int64_t dv);

// The key half: s[h * s_stride + j] = key_j . q_h (j < n, h < nh) with key_j at keys + j * krow
// bytes and q_h at q + h * hd floats; hd a multiple of 16. Each score has the bits the KV
// dtype's gemm kernel (kernels/vec_dot.h) gives for it.
using KeyScoresFn = void (*)(int64_t hd, const void* keys, size_t krow, int64_t n, const float* q, int nh, float* s,
                             size_t s_stride);

struct AttentionOps {
  // By KV dtype (F32, F16, Q8_0); dv a multiple of the dtype's block size.
  std::array<WeightedRowsFn, static_cast<size_t>(DType::Count)> weighted_rows{};
  // By KV dtype where a level has a kernel of its own (null: the gemm kernel does it).
  std::array<KeyScoresFn, static_cast<size_t>(DType::Count)> key_scores{};
};

// Scalar references for every level, overridden where a level has a variant.
const AttentionOps& attention_ops(Isa isa);
inline const AttentionOps& attention_ops() { return attention_ops(active_isa()); }

namespace avx2 {
void register_attention_ops(AttentionOps& ops);
}
namespace avx512 {
void register_attention_ops(AttentionOps& ops);
}

}  // namespace tandem
