// Embedding lookup: rows of a table of any dequantizable type, as f32.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "kernels/matmul.h"

namespace tandem {

// table: [n_rows][n] of any type dequantize_row supports; ids: [n_ids]; out: [n_ids][n] f32.
// An id outside [0, n_rows) is an InputError naming it.
void get_rows(const TensorView& table, const int32_t* ids, int64_t n_ids, float* out);
// The same from a weight matrix [n_out][k], repacked (kernels/packed.h) or not: out [n_ids][k].
void get_rows(const WeightMatrix& table, const int32_t* ids, int64_t n_ids, float* out);

}  // namespace tandem
