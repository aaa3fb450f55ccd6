#include "kernels/get_rows.h"

#include "core/error.h"
#include "kernels/packed.h"
#include "kernels/quant.h"

namespace tandem {

void get_rows(const TensorView& table, const int32_t* ids, int64_t n_ids, float* out) {
  const int64_t n = table.ne[0];
  const int64_t rows = table.nrows();
  // Rows are found by the row stride: any 2-D table (rows may be spaced apart), or a
  // contiguous one of more dimensions.
  TANDEM_CHECK(table.ne[2] * table.ne[3] == 1 || table.is_contiguous(),
               "get_rows: a non-contiguous table of more than 2 dimensions");
  for (int64_t i = 0; i < n_ids; ++i) {
    const int64_t id = ids[i];
    if (id < 0 || id >= rows)
      throw_input("get_rows: id {} at index {} is outside the table's {} rows", id, i, rows);
    dequantize_row(table.dtype, table.row<const void>(id), out + i * n, n);
  }
}

void get_rows(const WeightMatrix& table, const int32_t* ids, int64_t n_ids, float* out) {
  const int64_t k = table.k;
  for (int64_t i = 0; i < n_ids; ++i) {
    const int64_t id = ids[i];
    if (id < 0 || id >= table.n_out)
      throw_input("get_rows: id {} at index {} is outside the table's {} rows", id, i, table.n_out);
    const auto* base = static_cast<const char*>(table.data);
    if (table.packed) {
      const size_t group = static_cast<size_t>(id / kPackRows) * kPackRows * table.row_stride;
      dequantize_packed_row(table.type, k, base + group, static_cast<int>(id % kPackRows), out + i * k);
    } else {
      dequantize_row(table.type, base + static_cast<size_t>(id) * table.row_stride, out + i * k, k);
    }
  }
}

}  // namespace tandem
