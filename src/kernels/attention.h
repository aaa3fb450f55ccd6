// The value half of attention over KV rows stored by position: for the query heads of one GQA
// group at once,
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

struct AttentionOps {
  // By KV dtype (F32, F16, Q8_0); dv a multiple of the dtype's block size.
  std::array<WeightedRowsFn, static_cast<size_t>(DType::Count)> weighted_rows{};
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
