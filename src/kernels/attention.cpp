// Scalar reference of the weighted value rows (dequantize a row, then add it to every head's
// output with that head's weight) and the per-level tables.
#include "kernels/attention.h"

#include <vector>

#include "core/error.h"
#include "kernels/attend.h"
#include "kernels/quant.h"

namespace tandem {
namespace {

template <DType T>
void weighted_rows_ref(const void* rows, size_t stride, int64_t n, const float* p, size_t p_stride, int nh,
                       float* out, int64_t dv) {
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(dv));
  const DequantizeFn deq = quant_ops(Isa::Scalar).dequantize[static_cast<size_t>(T)];
  for (int64_t j = 0; j < n; ++j) {
    deq(static_cast<const char*>(rows) + static_cast<size_t>(j) * stride, row.data(), dv);
    for (int h = 0; h < nh; ++h) {
      const float w = p[static_cast<size_t>(h) * p_stride + static_cast<size_t>(j)];
      float* o = out + static_cast<int64_t>(h) * dv;
      for (int64_t d = 0; d < dv; ++d) o[d] += w * row[static_cast<size_t>(d)];
    }
  }
}

AttentionOps build(Isa isa) {
  AttentionOps ops;
  ops.weighted_rows[static_cast<size_t>(DType::F32)] = weighted_rows_ref<DType::F32>;
  ops.weighted_rows[static_cast<size_t>(DType::F16)] = weighted_rows_ref<DType::F16>;
  ops.weighted_rows[static_cast<size_t>(DType::Q8_0)] = weighted_rows_ref<DType::Q8_0>;
  if (isa >= Isa::Avx2) avx2::register_attention_ops(ops);
  if (isa >= Isa::Avx512) avx512::register_attention_ops(ops);
  return ops;
}

}  // namespace

const AttentionOps& attention_ops(Isa isa) {
  return isa_table<AttentionOps>(isa, "attention_ops", build);
}

AttendKernels AttendKernels::of(DType kv_type, int64_t head_dim) {
  const VecDotTable& table = vec_dot_table();
  AttendKernels k;
  k.keys = table.by_weight[static_cast<size_t>(kv_type)];
  if (k.keys.act_type != DType::F32) {
    k.act_quantize = table.act_quantize[static_cast<size_t>(k.keys.act_type)];
    k.act_row = row_bytes(k.keys.act_type, head_dim);
  }
  k.weighted_rows = attention_ops().weighted_rows[static_cast<size_t>(kv_type)];
  if (k.keys.act_type == DType::F32 && head_dim % 16 == 0)
    k.scores = attention_ops().key_scores[static_cast<size_t>(kv_type)];
  TANDEM_CHECK(k.keys.dot && (k.keys.act_type == DType::F32 || k.act_quantize) && k.weighted_rows,
               "no attention kernel for KV type {}", dtype_name(kv_type));
  return k;
}

}  // namespace tandem
