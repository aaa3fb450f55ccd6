// matmul against a naive loop over the same level's vec-dot kernel (one row, one token at a
// time), for 1, 3, 17 and 64 tokens, with pools of 1 and 2 threads (same bits).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/quant_blocks.h"
#include "kernels/element_ops.h"
#include "kernels/matmul.h"
#include "random_weights.h"

namespace tandem {
namespace {

constexpr DType kTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0,
                            DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K,
                            DType::Q6_K};

std::vector<float> naive(const VecDotTable& tab, const WeightMatrix& w, const std::vector<float>& x,
                         int64_t n_tok) {
  const VecDotKernel& kern = tab.by_weight[static_cast<size_t>(w.type)];
  std::vector<float> y(static_cast<size_t>(n_tok * w.n_out));
  std::vector<uint8_t> act(row_bytes(kern.act_type, w.k) + 64);
  for (int64_t t = 0; t < n_tok; ++t) {
    const float* xt = x.data() + t * w.k;
    const void* a = xt;
    if (kern.act_type != DType::F32) {
      tab.act_quantize[static_cast<size_t>(kern.act_type)](xt, act.data(), w.k);
      a = act.data();
    }
    for (int64_t o = 0; o < w.n_out; ++o)
      kern.dot(w.k, static_cast<const char*>(w.data) + o * w.row_stride, w.row_stride, 1, a,
               &y[t * w.n_out + o]);
  }
  return y;
}

TEST(Matmul, MatchesNaiveLoopEveryIsaAndThreadCount) {
  std::mt19937 rng(21);
  ThreadPool pool1(1), pool2(2);
  for (Isa isa : available_isas()) {
    const VecDotTable& tab = vec_dot_table(isa);
    for (DType t : kTypes) {
      if (tab.by_weight[static_cast<size_t>(t)].dot == nullptr) continue;  // K types: other family
      for (int64_t k : {block_size(t) == 256 ? int64_t{512} : int64_t{96}, int64_t{4096}})
      for (int64_t n_out : {1, 37, 133}) {
        const size_t stride = row_bytes(t, k) + (n_out == 37 ? block_bytes(t) : 0);
        const auto wbytes = random_matrix(t, k, n_out, stride, rng);
        const WeightMatrix w{t, wbytes.data(), k, n_out, stride};
        for (int64_t n_tok : {1, 3, 17, 64}) {
          if (k == 4096 && (n_tok == 3 || n_tok == 64)) continue;  // several L2 tiles of rows; keep it quick
          std::vector<float> x(static_cast<size_t>(n_tok * k));
          std::normal_distribution<float> dist(0.0f, 1.0f);
          for (auto& v : x) v = dist(rng);
          const auto want = naive(tab, w, x, n_tok);
          MatmulScratch scratch;
          std::vector<float> y1(want.size(), -1.0f), y2(want.size(), -2.0f);
          matmul(tab, w, x.data(), k, n_tok, y1.data(), n_out, pool1, scratch);
          matmul(tab, w, x.data(), k, n_tok, y2.data(), n_out, pool2, scratch);
          for (size_t i = 0; i < want.size(); ++i) {
            // Same kernel, same per-row order: only a different nr grouping, which our kernels
            // do not let change a row's sum (others: f32 rounding).
            ASSERT_NEAR(y1[i], want[i], 1e-5f * (1.0f + std::fabs(want[i])))
                << isa_name(isa) << " " << dtype_name(t) << " n_out=" << n_out << " n_tok=" << n_tok << " i=" << i;
            ASSERT_EQ(y1[i], y2[i]) << isa_name(isa) << " " << dtype_name(t) << " n_tok=" << n_tok << " i=" << i;
          }
        }
      }
    }
  }
}

// Where a level has a multi-token kernel, it gives `dot`'s results bit for bit, for every
// nr, nt up to several tiles (partial tiles too), strided weights, activations and outputs.
TEST(Matmul, GemmMatchesDotBitExact) {
  std::mt19937 rng(30);
  for (Isa isa : available_isas()) {
    const VecDotTable& tab = vec_dot_table(isa);
    for (DType t : kTypes) {
      const VecDotKernel& kern = tab.by_weight[static_cast<size_t>(t)];
      if (kern.gemm == nullptr) continue;
      // Float: several k slices, with a scalar tail (517) and without (520, the vector epilogue).
      const std::vector<int64_t> ks = block_size(t) == 1 ? std::vector<int64_t>{517, 520}
                                                         : std::vector<int64_t>{block_size(t) * 7};
      for (const int64_t k : ks) {
        const size_t stride = row_bytes(t, k) + block_bytes(t);
        const int max_nr = 4 * kern.max_rows + 3, max_nt = 4 * kern.max_tokens + 3;
        const auto wbytes = random_matrix(t, k, max_nr, stride, rng);
        const size_t act_stride = row_bytes(kern.act_type, k) + 64;
        std::vector<uint8_t> act(act_stride * max_nt);
        std::normal_distribution<float> dist(0.0f, 1.0f);
        std::vector<float> x(static_cast<size_t>(k));
        for (int tok = 0; tok < max_nt; ++tok) {
          for (auto& v : x) v = dist(rng);
          if (kern.act_type == DType::F32)
            std::memcpy(act.data() + tok * act_stride, x.data(), x.size() * sizeof(float));
          else
            tab.act_quantize[static_cast<size_t>(kern.act_type)](x.data(), act.data() + tok * act_stride, k);
        }
        for (int nr = 1; nr <= max_nr; ++nr) {
          for (int nt = 1; nt <= max_nt; nt += (nt < kern.max_tokens + 1 ? 1 : 3)) {
            const size_t out_stride = static_cast<size_t>(nr) + 3;
            std::vector<float> got(out_stride * nt, -7.0f);
            kern.gemm(k, wbytes.data(), stride, nr, act.data(), act_stride, nt, got.data(), out_stride);
            for (int tok = 0; tok < nt; ++tok) {
              // Each row alone (the kernel's one-row form) and the rows together: the same bits.
              std::vector<float> want(nr), alone(1);
              kern.dot(k, wbytes.data(), stride, nr, act.data() + tok * act_stride, want.data());
              for (int r = 0; r < nr; ++r) {
                kern.dot(k, wbytes.data() + r * stride, stride, 1, act.data() + tok * act_stride, alone.data());
                EXPECT_EQ(want[r], alone[0]) << isa_name(isa) << " " << dtype_name(t) << " nr=" << nr << " r=" << r;
                EXPECT_EQ(got[tok * out_stride + r], want[r])
                    << isa_name(isa) << " " << dtype_name(t) << " nr=" << nr << " nt=" << nt << " r=" << r << " t=" << tok;
              }
              EXPECT_EQ(got[tok * out_stride + nr], -7.0f);  // nothing written past nr
            }
          }
        }
      }
    }
  }
}

TEST(Matmul, StridedActivationsAndOutputs) {
  std::mt19937 rng(4);
  ThreadPool pool(2);
  const int64_t k = 128, n_out = 21, n_tok = 5, xs = k + 7, ys = n_out + 3;
  const auto wbytes = random_matrix(DType::Q4_0, k, n_out, row_bytes(DType::Q4_0, k), rng);
  const WeightMatrix w{DType::Q4_0, wbytes.data(), k, n_out, row_bytes(DType::Q4_0, k)};
  std::vector<float> x(n_tok * xs), xc(n_tok * k);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t i = 0; i < k; ++i) xc[t * k + i] = x[t * xs + i] = dist(rng);
  std::vector<float> y(n_tok * ys, 42.0f), yc(n_tok * n_out);
  MatmulScratch scratch;
  matmul(w, x.data(), xs, n_tok, y.data(), ys, pool, scratch);
  matmul(w, xc.data(), n_tok, yc.data(), pool);
  for (int64_t t = 0; t < n_tok; ++t) {
    for (int64_t o = 0; o < n_out; ++o) EXPECT_EQ(y[t * ys + o], yc[t * n_out + o]);
    for (int64_t o = n_out; o < ys; ++o) EXPECT_EQ(y[t * ys + o], 42.0f);  // padding untouched
  }
}

TEST(Matmul, TensorViewMatchesWeightMatrix) {
  std::mt19937 rng(15);
  ThreadPool pool(2);
  const int64_t k = 64, n_out = 10, n_tok = 3;
  auto wbytes = random_matrix(DType::Q8_0, k, n_out, row_bytes(DType::Q8_0, k), rng);
  const TensorView view = TensorView::contiguous(DType::Q8_0, {k, n_out}, wbytes.data());
  const WeightMatrix w = WeightMatrix::of(view);
  EXPECT_EQ(w.k, k);
  EXPECT_EQ(w.n_out, n_out);
  EXPECT_EQ(w.row_stride, row_bytes(DType::Q8_0, k));
  std::vector<float> x(n_tok * k, 0.25f), y1(n_tok * n_out), y2(n_tok * n_out);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
  matmul(view, x.data(), n_tok, y1.data(), pool);
  matmul(w, x.data(), n_tok, y2.data(), pool);
  EXPECT_EQ(y1, y2);
}

TEST(Matmul, ScratchStopsGrowing) {
  std::mt19937 rng(8);
  ThreadPool pool(2);
  const int64_t k = 256, n_out = 8;
  const auto wbytes = random_matrix(DType::Q8_0, k, n_out, row_bytes(DType::Q8_0, k), rng);
  const WeightMatrix w{DType::Q8_0, wbytes.data(), k, n_out, row_bytes(DType::Q8_0, k)};
  std::vector<float> x(64 * k, 0.5f), y(64 * n_out);
  MatmulScratch scratch;
  matmul(w, x.data(), k, 64, y.data(), n_out, pool, scratch);
  const size_t cap = scratch.capacity();
  const void* p = scratch.reserve(0, 1);
  for (int64_t n_tok : {1, 17, 64}) matmul(w, x.data(), k, n_tok, y.data(), n_out, pool, scratch);
  EXPECT_EQ(scratch.capacity(), cap);
  EXPECT_EQ(scratch.reserve(0, 1), p);
}

// matmul_multi (several matrices, mixed types and layouts, one job) and matmul_swiglu give
// exactly what separate matmul calls (and swiglu) give.
TEST(Matmul, FusedJobsMatchSeparateCalls) {
  std::mt19937 rng(9);
  ThreadPool pool(2);
  const int64_t k = 512;
  const DType types[] = {DType::Q4_K, DType::Q6_K, DType::Q8_0};
  const int64_t rows[] = {64, 37, 16};
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<AlignedBuffer> packed;
  std::vector<WeightMatrix> ws;
  for (int i = 0; i < 3; ++i) {
    bytes.push_back(random_matrix(types[i], k, rows[i], row_bytes(types[i], k), rng));
    WeightMatrix w{types[i], bytes.back().data(), k, rows[i], row_bytes(types[i], k)};
    if (matmul_packable(w.type)) {
      packed.emplace_back(packed_matrix_bytes(w));
      w = pack_matrix(w, packed.back().data(), pool);
    }
    ws.push_back(w);
  }
  for (int64_t n_tok : {1, 9, 40}) {
    std::vector<float> x(static_cast<size_t>(n_tok * k));
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (auto& v : x) v = dist(rng);
    MatmulScratch scratch;
    std::vector<std::vector<float>> want(3), got(3);
    std::vector<MatmulOut> outs;
    for (int i = 0; i < 3; ++i) {
      want[i].assign(static_cast<size_t>(n_tok * rows[i]), 0.0f);
      got[i].assign(want[i].size(), -1.0f);
      matmul(ws[static_cast<size_t>(i)], x.data(), k, n_tok, want[i].data(), rows[i], pool, scratch);
      outs.push_back({&ws[static_cast<size_t>(i)], got[i].data(), rows[i]});
    }
    matmul_multi(vec_dot_table(), outs, x.data(), k, n_tok, pool, scratch);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(got[i], want[i]) << dtype_name(types[i]) << " n_tok=" << n_tok;

    // gate = matrix 0, up = matrix 0 read as another (same shape) matrix: use 0 and a fresh one.
    const auto up_bytes = random_matrix(DType::Q4_K, k, rows[0], row_bytes(DType::Q4_K, k), rng);
    WeightMatrix up{DType::Q4_K, up_bytes.data(), k, rows[0], row_bytes(DType::Q4_K, k)};
    std::vector<float> g_sep(want[0].size()), u_sep(want[0].size()), y(want[0].size()), u(want[0].size());
    matmul(ws[0], x.data(), k, n_tok, g_sep.data(), rows[0], pool, scratch);
    matmul(up, x.data(), k, n_tok, u_sep.data(), rows[0], pool, scratch);
    swiglu(g_sep.data(), u_sep.data(), g_sep.data(), static_cast<int64_t>(g_sep.size()));
    matmul_swiglu(ws[0], up, x.data(), k, n_tok, y.data(), u.data(), rows[0], pool, scratch);
    EXPECT_EQ(y, g_sep) << "swiglu n_tok=" << n_tok;
  }
}

TEST(Matmul, TypeWithoutKernelIsInputError) {
  ThreadPool pool(1);
  std::vector<uint8_t> wbytes(block_bytes(DType::IQ2_XXS) * 4);
  const WeightMatrix w{DType::IQ2_XXS, wbytes.data(), 256, 4, block_bytes(DType::IQ2_XXS)};
  std::vector<float> x(256), y(4);
  EXPECT_FALSE(matmul_supported(DType::IQ2_XXS));
  EXPECT_THROW(matmul(w, x.data(), 1, y.data(), pool), InputError);
}

}  // namespace
}  // namespace tandem
