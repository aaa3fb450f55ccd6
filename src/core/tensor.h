// Non-owning tensor views. Dimension order follows GGUF/ggml: ne[0] is the innermost
// (contiguous) dimension, so a weight matrix W[n_out][n_in] has ne = {n_in, n_out}.
// A view over memory-mapped weights is just a pointer into the mapping: nothing is copied.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace tandem {

inline constexpr int kMaxDims = 4;

struct TensorView {
  DType dtype = DType::F32;
  int ndim = 0;
  std::array<int64_t, kMaxDims> ne{1, 1, 1, 1};  // elements per dimension, innermost first
  std::array<size_t, kMaxDims> nb{0, 0, 0, 0};   // byte stride per dimension (nb[0]: one block)
  void* data = nullptr;

  // A contiguous view; shape innermost first. ne[0] must be a multiple of the block size.
  static TensorView contiguous(DType dtype, std::initializer_list<int64_t> shape, void* data) {
    TensorView t;
    t.dtype = dtype;
    t.data = data;
    TANDEM_CHECK(shape.size() >= 1 && shape.size() <= kMaxDims, "rank {}", shape.size());
    int i = 0;
    for (int64_t n : shape) t.ne[i++] = n;
    t.ndim = static_cast<int>(shape.size());
    TANDEM_CHECK(t.ne[0] % block_size(dtype) == 0, "row of {} {} elements is not whole blocks",
                 t.ne[0], dtype_name(dtype));
    t.nb[0] = block_bytes(dtype);
    t.nb[1] = tandem::row_bytes(dtype, t.ne[0]);
    for (int d = 2; d < kMaxDims; ++d) t.nb[d] = t.nb[d - 1] * static_cast<size_t>(t.ne[d - 1]);
    return t;
  }

  int64_t nelements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  // Rows = product of every dimension but the innermost.
  int64_t nrows() const { return ne[1] * ne[2] * ne[3]; }
  size_t row_bytes() const { return tandem::row_bytes(dtype, ne[0]); }
  size_t nbytes() const { return row_bytes() * static_cast<size_t>(nrows()); }
  bool is_contiguous() const {
    return nb[0] == block_bytes(dtype) && nb[1] == row_bytes() &&
           nb[2] == nb[1] * static_cast<size_t>(ne[1]) && nb[3] == nb[2] * static_cast<size_t>(ne[2]);
  }
  // Row r of a contiguous view (rows counted across all outer dimensions).
  template <typename T = void>
  T* row(int64_t r) const {
    return reinterpret_cast<T*>(static_cast<std::byte*>(data) + static_cast<size_t>(r) * nb[1]);
  }
};

}  // namespace tandem
