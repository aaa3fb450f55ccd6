// y = x . W^T for a weight matrix W[n_out][k] of any type with a vec-dot kernel:
//   y[t][o] = sum_i W[o][i] * x[t][i]
// Activations are converted once (in parallel for many tokens) to the kernel's act_type in a
// reusable scratch; output rows are split into equal tasks, 4 per thread, handed out
// dynamically. One token is matrix x vector; several are tiled so a tile of weight rows
// (256 KiB) is read from memory once and reused from L2 for every token, through the kernel's
// multi-token form (gemm) where it has one.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <cstdint>

#include "core/buffer.h"
#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/vec_dot.h"

namespace tandem {

// Holds converted activations between calls: grows to the largest call, then never
// allocates again. Not shared between concurrent matmul calls.
inline constexpr int kMaxMatmulParts = 4;

class MatmulScratch {
 public:
  // Slot i holds the converted activations of the i-th matrix of a call (kMaxMatmulParts).
  void* reserve(int slot, size_t bytes);
  size_t capacity() const;

 private:
  std::array<AlignedBuffer, kMaxMatmulParts> bufs_;
};

// A weight matrix W[n_out][k] as the kernels see it: rows of whole blocks, row_stride bytes
// apart (>= the row's bytes, so a slice of a larger matrix works).
struct WeightMatrix {
  DType type = DType::F32;
  const void* data = nullptr;
  int64_t k = 0;      // elements per row (a multiple of the type's block size)
  int64_t n_out = 0;  // rows
  size_t row_stride = 0;
  // Repacked in groups of 16 rows (kernels/packed.h): row_stride is then the group's bytes / 16
  // and data holds ceil(n_out / 16) groups; only the active ISA's packed kernel reads it.
  bool packed = false;

  // From a TensorView W[n_out][k] (ne = {k, n_out}; outer dimensions count as more rows, so
  // they must be contiguous with the rows).
  static WeightMatrix of(const TensorView& w);
  // Rows [begin, begin + count), or the columns (elements of each row) [begin, begin + count) on
  // block boundaries, of an unpacked matrix: the same memory.
  WeightMatrix rows(int64_t begin, int64_t count) const;
  WeightMatrix cols(int64_t begin, int64_t count) const;
};

// Does the active ISA have a kernel for weights of this type?
bool matmul_supported(DType weight_type);

// Does the active ISA have a kernel for this type repacked (then pack_matrix is worth doing)?
bool matmul_packable(DType weight_type);
// Bytes pack_matrix writes for w.
size_t packed_matrix_bytes(const WeightMatrix& w);
// Repacks w into dst (packed_matrix_bytes(w) bytes, 64-byte aligned), groups split over the
// pool; returns the matrix that reads dst.
WeightMatrix pack_matrix(const WeightMatrix& w, void* dst, ThreadPool& pool);

// x: [n_tok][x_stride] f32, the first k of each row used. y: [n_tok][y_stride] f32, the first
// n_out of each row written. Throws InputError when the weight type has no kernel.
void matmul(const WeightMatrix& w, const float* x, int64_t x_stride, int64_t n_tok, float* y,
            int64_t y_stride, ThreadPool& pool, MatmulScratch& scratch);

// Contiguous x [n_tok][k] and y [n_tok][n_out], using a scratch owned by the calling thread.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tok, float* y, ThreadPool& pool);

// The same with an explicit kernel table (tests compare ISA levels through this).
void matmul(const VecDotTable& table, const WeightMatrix& w, const float* x, int64_t x_stride,
            int64_t n_tok, float* y, int64_t y_stride, ThreadPool& pool, MatmulScratch& scratch);

// One output of matmul_multi: y [n_tok][y_stride] = x . W^T.
struct MatmulOut {
  const WeightMatrix* w;
  float* y;
  int64_t y_stride;
};

// Several matrices with the same k over the same activations (attention's q, k, v) as one
// job: activations converted once per distinct format, tasks from all matrices shared out
// together, one wait at the end instead of one per matrix. Same results as separate calls.
void matmul_multi(const VecDotTable& table, std::span<const MatmulOut> outs, const float* x,
                  int64_t x_stride, int64_t n_tok, ThreadPool& pool, MatmulScratch& scratch);

// The feed-forward's gate and up projections and SwiGLU in one job:
//   y[t][r] = silu(x_t . gate_r) * (x_t . up_r)
// each task computing the same rows of both and combining them while they are in cache.
// up_out [n_tok][y_stride] receives the up projection (scratch for the caller).
void matmul_swiglu(const WeightMatrix& gate, const WeightMatrix& up, const float* x, int64_t x_stride,
                   int64_t n_tok, float* y, float* up_out, int64_t y_stride, ThreadPool& pool,
                   MatmulScratch& scratch);

// W given as a TensorView W[n_out][k] (ne = {k, n_out}, rows nb[1] bytes apart).
void matmul(const TensorView& w, const float* x, int64_t n_tok, float* y, ThreadPool& pool);

}  // namespace tandem
