#include "kernels/matmul.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/packed.h"

namespace tandem {
namespace {

constexpr size_t kActRowAlign = 64;
// Weight rows of one tile, kept in L2 (1 MiB on the target) while every token passes over it.
constexpr size_t kTileBytes = 256 * 1024;
// A chunk of max_rows weight rows plus a few activation rows, kept in L1 (32 KiB).
constexpr size_t kL1Bytes = 24 * 1024;
// Below this many activation values, converting them on the calling thread is cheaper than
// waking the pool.
constexpr int64_t kParallelQuantizeMin = 1 << 16;
// Row tasks per thread (see matmul).
constexpr int kTasksPerThread = 4;
// Tiles per side of the blocks handed to a gemm kernel.
constexpr int kGemmTiles = 4;

struct Plan {
  VecDotKernel kern;
  int64_t k = 0, n_out = 0;
  const char* w = nullptr;
  size_t w_stride = 0;  // bytes between weight rows
  const char* act = nullptr;
  size_t act_stride = 0;  // bytes between converted activation rows
};

// y[t][r] for rows [r0, r1) and tokens [t0, t1). With a gemm kernel: blocks of 4 x 4 tiles of
// max_rows rows x max_tokens tokens (the kernel keeps a block's slices in L1). Otherwise
// chunks of max_rows rows, each reused across a few tokens while it is in L1.
void run_rows(const Plan& p, int64_t r0, int64_t r1, int64_t t0, int64_t t1, float* y,
              int64_t y_stride) {
  const int mr = p.kern.max_rows;
  if (p.kern.gemm != nullptr && (t1 - t0 > 1 || p.kern.dot == nullptr)) {
    const int mt = kGemmTiles * p.kern.max_tokens;
    const int mrb = kGemmTiles * mr;
    for (int64_t t = t0; t < t1; t += mt) {
      const int nt = static_cast<int>(std::min<int64_t>(mt, t1 - t));
      for (int64_t r = r0; r < r1; r += mrb) {
        const int nr = static_cast<int>(std::min<int64_t>(mrb, r1 - r));
        p.kern.gemm(p.k, p.w + static_cast<size_t>(r) * p.w_stride, p.w_stride, nr,
                    p.act + static_cast<size_t>(t) * p.act_stride, p.act_stride, nt,
                    y + t * y_stride + r, static_cast<size_t>(y_stride));
      }
    }
    return;
  }
  const size_t chunk_bytes = static_cast<size_t>(mr) * p.w_stride;
  const int64_t tok_tile = std::clamp<int64_t>(
      chunk_bytes < kL1Bytes ? static_cast<int64_t>((kL1Bytes - chunk_bytes) / std::max<size_t>(p.act_stride, 1)) : 1, 1, 16);
  for (int64_t tb = t0; tb < t1; tb += tok_tile) {
    const int64_t te = std::min(t1, tb + tok_tile);
    for (int64_t r = r0; r < r1; r += mr) {
      const int nr = static_cast<int>(std::min<int64_t>(mr, r1 - r));
      const char* wr = p.w + static_cast<size_t>(r) * p.w_stride;
      for (int64_t t = tb; t < te; ++t)
        p.kern.dot(p.k, wr, p.w_stride, nr, p.act + static_cast<size_t>(t) * p.act_stride,
                   y + t * y_stride + r);
    }
  }
}

}  // namespace

WeightMatrix WeightMatrix::of(const TensorView& w) {
  TANDEM_CHECK(w.nb[0] == block_bytes(w.dtype), "matmul weight: rows must be contiguous blocks");
  for (int d = 2; d < kMaxDims; ++d)
    TANDEM_CHECK(w.ne[d] == 1 || w.nb[d] == w.nb[d - 1] * static_cast<size_t>(w.ne[d - 1]),
                 "matmul weight: dimension {} is not contiguous with the rows", d);
  return WeightMatrix{w.dtype, w.data, w.ne[0], w.nrows(), w.nb[1]};
}

void* MatmulScratch::reserve(size_t bytes) {
  if (buf_.size() < bytes) buf_ = AlignedBuffer(std::max(bytes, buf_.size() + buf_.size() / 2));
  return buf_.data();
}

bool matmul_supported(DType weight_type) {
  return vec_dot_table().by_weight[static_cast<size_t>(weight_type)].dot != nullptr;
}

bool matmul_packable(DType weight_type) {
  return packable(weight_type) && vec_dot_table().packed[static_cast<size_t>(weight_type)].gemm != nullptr;
}

size_t packed_matrix_bytes(const WeightMatrix& w) {
  return packed_group_bytes(w.type, w.k) * static_cast<size_t>((w.n_out + kPackRows - 1) / kPackRows);
}

WeightMatrix pack_matrix(const WeightMatrix& w, void* dst, ThreadPool& pool) {
  TANDEM_CHECK(!w.packed && packable(w.type), "pack_matrix: {} matrix cannot be packed", dtype_name(w.type));
  const size_t gbytes = packed_group_bytes(w.type, w.k);
  const int64_t groups = (w.n_out + kPackRows - 1) / kPackRows;
  pool.parallel_for(groups, 16, [&](int64_t g0, int64_t g1, int) {
    for (int64_t g = g0; g < g1; ++g) {
      const int nrows = static_cast<int>(std::min<int64_t>(kPackRows, w.n_out - g * kPackRows));
      pack_group(w.type, static_cast<const char*>(w.data) + static_cast<size_t>(g * kPackRows) * w.row_stride,
                 w.row_stride, nrows, w.k, static_cast<char*>(dst) + static_cast<size_t>(g) * gbytes);
    }
  });
  WeightMatrix p = w;
  p.data = dst;
  p.row_stride = gbytes / kPackRows;
  p.packed = true;
  return p;
}

void matmul(const VecDotTable& table, const WeightMatrix& w, const float* x, int64_t x_stride,
            int64_t n_tok, float* y, int64_t y_stride, ThreadPool& pool, MatmulScratch& scratch) {
  VecDotKernel kern = table.by_weight[static_cast<size_t>(w.type)];
  ActQuantizeFn packed_quantize = nullptr;
  if (w.packed) {
    const PackedKernel& pk = table.packed[static_cast<size_t>(w.type)];
    TANDEM_CHECK(pk.gemm != nullptr, "matmul: no packed {} kernel at this ISA level", dtype_name(w.type));
    kern = VecDotKernel{w.type == DType::Q4_K ? DType::Q8_K : DType::Q8_0, nullptr, kPackRows, pk.gemm, pk.max_tokens};
    packed_quantize = pk.act_quantize;
  } else if (kern.dot == nullptr)
    throw_input("matmul: weight type {} has no vec-dot kernel (supported: f32, f16, bf16, q8_0, "
                "q4_0, q4_1, q5_0, q5_1 and the K-quants that are registered)",
                dtype_name(w.type));
  const int64_t k = w.k;
  const int64_t n_out = w.n_out;
  TANDEM_CHECK(k >= 0 && k % block_size(w.type) == 0 && w.row_stride >= row_bytes(w.type, k),
               "matmul weight: k {} is not whole {} blocks or row stride {} is too small", k,
               dtype_name(w.type), w.row_stride);
  TANDEM_CHECK(x_stride >= k && y_stride >= n_out, "strides x {} < k {} or y {} < n_out {}",
               x_stride, k, y_stride, n_out);
  if (n_tok <= 0 || n_out <= 0) return;

  Plan p;
  p.kern = kern;
  p.k = k;
  p.n_out = n_out;
  p.w = static_cast<const char*>(w.data);
  p.w_stride = w.row_stride;
  if (kern.act_type == DType::F32) {
    p.act = reinterpret_cast<const char*>(x);
    p.act_stride = static_cast<size_t>(x_stride) * sizeof(float);
  } else {
    const ActQuantizeFn quantize =
        packed_quantize ? packed_quantize : table.act_quantize[static_cast<size_t>(kern.act_type)];
    TANDEM_CHECK(quantize != nullptr, "no activation converter for {}", dtype_name(kern.act_type));
    const size_t act_bytes = packed_quantize ? packed_act_row_bytes(w.type, k) : row_bytes(kern.act_type, k);
    TANDEM_CHECK(packed_quantize || k % block_size(kern.act_type) == 0, "k {} is not whole {} blocks", k,
                 dtype_name(kern.act_type));
    p.act_stride = (act_bytes + kActRowAlign - 1) / kActRowAlign * kActRowAlign;
    // [n_tok][act_stride] converted activations
    char* act = static_cast<char*>(scratch.reserve(p.act_stride * static_cast<size_t>(n_tok)));
    auto convert = [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) quantize(x + t * x_stride, act + static_cast<size_t>(t) * p.act_stride, k);
    };
    if (n_tok * k < kParallelQuantizeMin || pool.size() == 1 || n_tok == 1)
      convert(0, n_tok, 0);
    else
      pool.parallel_for(n_tok, 1, convert);
    p.act = act;
  }

  // Output rows split into equal tasks (multiples of max_rows); each task walks its rows in
  // tiles that stay in L2 while all tokens pass over them.
  const int64_t tile_rows = n_tok == 1
      ? n_out
      : std::max<int64_t>(kern.max_rows,
                          static_cast<int64_t>(kTileBytes / p.w_stride) / kern.max_rows * kern.max_rows);
  // kTasksPerThread equal tasks per thread, handed out dynamically: on an idle machine each
  // thread takes the same share, and a thread slowed by another process takes fewer.
  const int64_t grain = kern.max_rows;
  const int64_t units = (n_out + grain - 1) / grain;
  const int64_t tasks = std::min<int64_t>(units, int64_t{pool.size()} * kTasksPerThread);
  pool.run(tasks, [&](int64_t c, int) {
    const int64_t r0 = units * c / tasks * grain;
    const int64_t r1 = std::min(n_out, units * (c + 1) / tasks * grain);
    for (int64_t rb = r0; rb < r1; rb += tile_rows)
      run_rows(p, rb, std::min(r1, rb + tile_rows), 0, n_tok, y, y_stride);
  });
}

void matmul(const WeightMatrix& w, const float* x, int64_t x_stride, int64_t n_tok, float* y,
            int64_t y_stride, ThreadPool& pool, MatmulScratch& scratch) {
  matmul(vec_dot_table(), w, x, x_stride, n_tok, y, y_stride, pool, scratch);
}

void matmul(const TensorView& w, const float* x, int64_t n_tok, float* y, ThreadPool& pool) {
  matmul(WeightMatrix::of(w), x, n_tok, y, pool);
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tok, float* y, ThreadPool& pool) {
  thread_local MatmulScratch scratch;
  matmul(vec_dot_table(), w, x, w.k, n_tok, y, w.n_out, pool, scratch);
}

}  // namespace tandem
