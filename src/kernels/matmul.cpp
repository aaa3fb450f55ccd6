#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>

#include "core/error.h"
#include "kernels/element_ops.h"
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
// Guided chunks (see run_parts): each grab takes 1 / (kGuidedDivisor * threads) of the work left.
constexpr int64_t kGuidedDivisor = 2;
// Chunks per thread a small matrix is cut into at least when several tokens pass over it.
constexpr int64_t kMinChunksPerThread = 4;
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

WeightMatrix WeightMatrix::rows(int64_t begin, int64_t count) const {
  TANDEM_CHECK(!packed && begin >= 0 && count >= 0 && begin + count <= n_out, "rows [{}, +{}) of {}", begin, count, n_out);
  WeightMatrix m = *this;
  m.data = static_cast<const std::byte*>(data) + static_cast<size_t>(begin) * row_stride;
  m.n_out = count;
  return m;
}

WeightMatrix WeightMatrix::cols(int64_t begin, int64_t count) const {
  const auto bs = static_cast<int64_t>(block_size(type));
  TANDEM_CHECK(!packed && begin >= 0 && count >= 0 && begin + count <= k && begin % bs == 0 && count % bs == 0,
               "columns [{}, +{}) of {} in blocks of {}", begin, count, k, bs);
  WeightMatrix m = *this;
  m.data = static_cast<const std::byte*>(data) + row_bytes(type, begin);
  m.k = count;
  return m;
}

void* MatmulScratch::reserve(int slot, size_t bytes) {
  AlignedBuffer& buf = bufs_[static_cast<size_t>(slot)];
  if (buf.size() < bytes) buf = AlignedBuffer(std::max(bytes, buf.size() + buf.size() / 2));
  return buf.data();
}

size_t MatmulScratch::capacity() const {
  size_t n = 0;
  for (const auto& b : bufs_) n += b.size();
  return n;
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

namespace {

// The kernel of w at this ISA level and how its activations are converted.
struct KernelChoice {
  VecDotKernel kern;
  ActQuantizeFn quantize = nullptr;  // null for f32 activations
  size_t act_bytes = 0;              // converted bytes per token
};

KernelChoice choose(const VecDotTable& table, const WeightMatrix& w) {
  KernelChoice c;
  c.kern = table.by_weight[static_cast<size_t>(w.type)];
  if (w.packed) {
    const PackedKernel& pk = table.packed[static_cast<size_t>(w.type)];
    TANDEM_CHECK(pk.gemm != nullptr, "matmul: no packed {} kernel at this ISA level", dtype_name(w.type));
    // The activations are in the packed kernel's own format (packed_act_row_bytes), not a DType.
    c.kern = VecDotKernel{DType::Count, nullptr, kPackRows, pk.gemm, pk.max_tokens};
    c.quantize = pk.act_quantize;
    c.act_bytes = packed_act_row_bytes(w.type, w.k);
  } else if (c.kern.dot == nullptr) {
    throw_input("matmul: weight type {} has no vec-dot kernel (supported: f32, f16, bf16, q8_0, "
                "q4_0, q4_1, q5_0, q5_1 and the K-quants that are registered)",
                dtype_name(w.type));
  } else if (c.kern.act_type != DType::F32) {
    c.quantize = table.act_quantize[static_cast<size_t>(c.kern.act_type)];
    TANDEM_CHECK(c.quantize != nullptr, "no activation converter for {}", dtype_name(c.kern.act_type));
    TANDEM_CHECK(w.k % block_size(c.kern.act_type) == 0, "k {} is not whole {} blocks", w.k,
                 dtype_name(c.kern.act_type));
    c.act_bytes = row_bytes(c.kern.act_type, w.k);
  }
  TANDEM_CHECK(w.k >= 0 && w.k % block_size(w.type) == 0 && (w.packed || w.row_stride >= row_bytes(w.type, w.k)),
               "matmul weight: k {} is not whole {} blocks or row stride {} is too small", w.k,
               dtype_name(w.type), w.row_stride);
  return c;
}

// One matrix of a job: its plan, output, and the rows a task's tile keeps in L2.
struct Part {
  Plan p;
  float* y = nullptr;
  int64_t y_stride = 0;
  int64_t tile_rows = 0;
  int64_t units = 0;  // row groups of max_rows
  int64_t grain = 1;  // units per chunk at least (and chunk sizes are multiples of it)
};

// Converted activations for every distinct converter among the parts (at most kMaxParts).
void convert_activations(Part* parts, const KernelChoice* kc, int n_parts, const float* x, int64_t x_stride,
                         int64_t n_tok, ThreadPool& pool, MatmulScratch& scratch) {
  for (int i = 0; i < n_parts; ++i) {
    Plan& p = parts[i].p;
    if (kc[i].quantize == nullptr) {
      p.act = reinterpret_cast<const char*>(x);
      p.act_stride = static_cast<size_t>(x_stride) * sizeof(float);
      continue;
    }
    p.act_stride = (kc[i].act_bytes + kActRowAlign - 1) / kActRowAlign * kActRowAlign;
    int same = -1;
    for (int j = 0; j < i && same < 0; ++j)
      if (kc[j].quantize == kc[i].quantize && kc[j].act_bytes == kc[i].act_bytes) same = j;
    if (same >= 0) {
      p.act = parts[same].p.act;
      continue;
    }
    // [n_tok][act_stride] converted activations
    char* act = static_cast<char*>(scratch.reserve(i, p.act_stride * static_cast<size_t>(n_tok)));
    const ActQuantizeFn quantize = kc[i].quantize;
    const int64_t k = p.k;
    const size_t stride = p.act_stride;
    auto convert = [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) quantize(x + t * x_stride, act + static_cast<size_t>(t) * stride, k);
    };
    if (n_tok * k < kParallelQuantizeMin || pool.size() == 1 || n_tok == 1)
      convert(0, n_tok, 0);
    else
      pool.parallel_for(n_tok, 1, convert);
    p.act = act;
  }
}

// Runs every part as one job. The parts' rows, in units of max_rows, are handed out in guided
// chunks: each grab takes 1 / (2 * threads) of the units left (at least one grain: a unit in
// decode, an L2 tile of rows in prefill), never across two parts. Threads start on long
// sequential streams and end on short ones, so both finish within one small chunk of each
// other, and a thread slowed by another process simply takes fewer chunks. Each chunk walks its
// rows in tiles that stay in L2 while all tokens pass over them. after(part, r0, r1) runs once
// a chunk's rows are done. A row's result does not depend on the chunking.
template <typename After>
void run_parts(Part* parts, int n_parts, int64_t n_tok, ThreadPool& pool, After&& after) {
  int64_t begin[kMaxMatmulParts + 1];  // first unit of each part in the job
  int64_t total = 0;
  for (int i = 0; i < n_parts; ++i) {
    Part& pt = parts[i];
    const int64_t mr = pt.p.kern.max_rows;
    pt.units = (pt.p.n_out + mr - 1) / mr;
    pt.tile_rows = n_tok == 1
        ? pt.p.n_out
        : std::max<int64_t>(mr, static_cast<int64_t>(kTileBytes / pt.p.w_stride) / mr * mr);
    pt.grain = n_tok == 1 ? 1 : pt.tile_rows / mr;
    // A matrix smaller than a few L2 tiles is in L2 whatever the split: finer chunks, so that
    // every thread has work (one 256-row matrix was a single chunk, run by one thread).
    if (n_tok > 1 && pool.size() > 1) {
      pt.grain = std::clamp<int64_t>(pt.units / (kMinChunksPerThread * pool.size()), 1, pt.grain);
      pt.tile_rows = std::min(pt.tile_rows, pt.grain * mr);
    }
    begin[i] = total;
    total += pt.units;
  }
  begin[n_parts] = total;
  std::atomic<int64_t> next{0};
  const int64_t divisor = kGuidedDivisor * pool.size();
  pool.run(pool.size(), [&](int64_t, int) {
    for (;;) {
      int64_t u = next.load(std::memory_order_relaxed), e = 0;
      int i = 0;
      do {
        if (u >= total) return;
        i = 0;
        while (u >= begin[i + 1]) ++i;
        const int64_t g = parts[i].grain;
        e = std::min(begin[i + 1], u + std::max(g, (total - u) / divisor / g * g));
      } while (!next.compare_exchange_weak(u, e, std::memory_order_relaxed));
      const Part& pt = parts[i];
      const int64_t mr = pt.p.kern.max_rows;
      const int64_t r0 = (u - begin[i]) * mr, r1 = std::min(pt.p.n_out, (e - begin[i]) * mr);
      for (int64_t rb = r0; rb < r1; rb += pt.tile_rows)
        run_rows(pt.p, rb, std::min(r1, rb + pt.tile_rows), 0, n_tok, pt.y, pt.y_stride);
      after(i, r0, r1);
    }
  });
}

Part make_part(const KernelChoice& kc, const WeightMatrix& w, float* y, int64_t y_stride, int64_t x_stride) {
  TANDEM_CHECK(x_stride >= w.k && y_stride >= w.n_out, "strides x {} < k {} or y {} < n_out {}", x_stride, w.k,
               y_stride, w.n_out);
  Part pt;
  pt.p.kern = kc.kern;
  pt.p.k = w.k;
  pt.p.n_out = w.n_out;
  pt.p.w = static_cast<const char*>(w.data);
  pt.p.w_stride = w.row_stride;
  pt.y = y;
  pt.y_stride = y_stride;
  return pt;
}

}  // namespace

void matmul_multi(const VecDotTable& table, std::span<const MatmulOut> outs, const float* x, int64_t x_stride,
                  int64_t n_tok, ThreadPool& pool, MatmulScratch& scratch) {
  TANDEM_CHECK(outs.size() <= kMaxMatmulParts, "matmul_multi: {} matrices (at most {})", outs.size(),
               kMaxMatmulParts);
  Part parts[kMaxMatmulParts];
  KernelChoice kc[kMaxMatmulParts];
  int n = 0;
  for (const MatmulOut& o : outs) {
    TANDEM_CHECK(o.w->k == outs[0].w->k, "matmul_multi: k {} and {} differ", o.w->k, outs[0].w->k);
    kc[n] = choose(table, *o.w);
    parts[n] = make_part(kc[n], *o.w, o.y, o.y_stride, x_stride);
    if (o.w->n_out > 0) ++n;
  }
  if (n_tok <= 0 || n == 0) return;
  convert_activations(parts, kc, n, x, x_stride, n_tok, pool, scratch);
  run_parts(parts, n, n_tok, pool, [](int, int64_t, int64_t) {});
}

void matmul(const VecDotTable& table, const WeightMatrix& w, const float* x, int64_t x_stride,
            int64_t n_tok, float* y, int64_t y_stride, ThreadPool& pool, MatmulScratch& scratch) {
  const MatmulOut out{&w, y, y_stride};
  matmul_multi(table, std::span<const MatmulOut>(&out, 1), x, x_stride, n_tok, pool, scratch);
}

void matmul_swiglu(const WeightMatrix& gate, const WeightMatrix& up, const float* x, int64_t x_stride,
                   int64_t n_tok, float* y, float* up_out, int64_t y_stride, ThreadPool& pool,
                   MatmulScratch& scratch) {
  TANDEM_CHECK(gate.k == up.k && gate.n_out == up.n_out, "matmul_swiglu: gate [{}][{}] and up [{}][{}] differ",
               gate.n_out, gate.k, up.n_out, up.k);
  const VecDotTable& table = vec_dot_table();
  KernelChoice kc[2] = {choose(table, gate), choose(table, up)};
  Part parts[2] = {make_part(kc[0], gate, y, y_stride, x_stride), make_part(kc[1], up, up_out, y_stride, x_stride)};
  if (n_tok <= 0 || gate.n_out <= 0) return;
  convert_activations(parts, kc, 2, x, x_stride, n_tok, pool, scratch);
  // One part of paired tasks: task c computes rows [r0, r1) of gate, then of up, then SwiGLU
  // on them while they are still in cache.
  Part& g = parts[0];
  const Plan up_plan = parts[1].p;
  run_parts(parts, 1, n_tok, pool, [&](int, int64_t r0, int64_t r1) {
    for (int64_t rb = r0; rb < r1; rb += g.tile_rows)
      run_rows(up_plan, rb, std::min(r1, rb + g.tile_rows), 0, n_tok, up_out, y_stride);
    for (int64_t t = 0; t < n_tok; ++t)
      swiglu(y + t * y_stride + r0, up_out + t * y_stride + r0, y + t * y_stride + r0, r1 - r0);
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
