// Weighted value rows: every ISA level against the scalar reference, for each KV dtype, on
// shapes with tails (rows, heads and dimensions that are not multiples of the vector tiles).
// Key scores: where a level has a kernel of its own, the same bits as that level's gemm kernel
// for the KV dtype, and near the scalar dot.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/quant.h"
#include "kernels/vec_dot.h"

namespace tandem {
namespace {

TEST(Attention, WeightedRowsMatchReference) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (Isa isa : available_isas()) {
    for (DType t : {DType::F32, DType::F16, DType::Q8_0}) {
      for (int64_t dv : {32, 64, 96, 128, 160}) {
        for (int nh : {1, 3, 4, 5, 8}) {
          for (int64_t n : {1, 7, 32, 33}) {
            SCOPED_TRACE(testing::Message() << "isa " << static_cast<int>(isa) << " " << dtype_name(t) << " dv " << dv
                                            << " nh " << nh << " n " << n);
            const size_t stride = row_bytes(t, dv) + 8;  // rows need not be packed
            std::vector<char> rows(stride * static_cast<size_t>(n));
            std::vector<float> src(static_cast<size_t>(dv));
            for (int64_t j = 0; j < n; ++j) {
              for (auto& x : src) x = u(rng);
              quantize_row(t, src.data(), rows.data() + static_cast<size_t>(j) * stride, dv);
            }
            const size_t p_stride = static_cast<size_t>(n) + 3;
            std::vector<float> p(p_stride * static_cast<size_t>(nh));
            for (auto& x : p) x = u(rng);
            std::vector<float> init(static_cast<size_t>(nh * dv));
            for (auto& x : init) x = u(rng);
            auto want = init, got = init;
            attention_ops(Isa::Scalar).weighted_rows[static_cast<size_t>(t)](rows.data(), stride, n, p.data(), p_stride, nh,
                                                                             want.data(), dv);
            attention_ops(isa).weighted_rows[static_cast<size_t>(t)](rows.data(), stride, n, p.data(), p_stride, nh,
                                                                     got.data(), dv);
            for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4f * (1 + n)) << "element " << i;
            double moved = 0;
            for (size_t i = 0; i < want.size(); ++i) moved += std::abs(want[i] - init[i]);
            ASSERT_GT(moved, 0.0) << "the reference added nothing";
          }
        }
      }
    }
  }
}

TEST(Attention, KeyScoresEqualTheGemmKernelBitForBit) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  int checked = 0;
  for (Isa isa : available_isas()) {
    for (DType t : {DType::F32, DType::F16}) {
      const KeyScoresFn scores = attention_ops(isa).key_scores[static_cast<size_t>(t)];
      if (!scores) continue;
      const VecDotKernel gemm = vec_dot_table(isa).by_weight[static_cast<size_t>(t)];
      const VecDotKernel ref = vec_dot_table(Isa::Scalar).by_weight[static_cast<size_t>(t)];
      ASSERT_TRUE(gemm.gemm && gemm.act_type == DType::F32 && ref.act_type == DType::F32);
      for (int64_t hd : {16, 32, 48, 64, 128}) {
        for (int nh : {1, 2, 3, 4, 5, 8}) {
          for (int64_t n : {1, 3, 4, 8, 17, 32, 45}) {
            SCOPED_TRACE(testing::Message() << "isa " << static_cast<int>(isa) << " " << dtype_name(t) << " hd " << hd
                                            << " heads " << nh << " keys " << n);
            const size_t krow = row_bytes(t, hd) + 12;  // keys of one KV head among others
            std::vector<char> keys(krow * static_cast<size_t>(n));
            std::vector<float> src(static_cast<size_t>(hd));
            for (int64_t j = 0; j < n; ++j) {
              for (auto& x : src) x = u(rng);
              quantize_row(t, src.data(), keys.data() + static_cast<size_t>(j) * krow, hd);
            }
            std::vector<float> q(static_cast<size_t>(nh * hd));
            for (auto& x : q) x = u(rng);
            const size_t s_stride = static_cast<size_t>(n) + 5;
            // Sentinels around and between the heads' rows: nothing outside [0, n) is written.
            std::vector<float> got(s_stride * static_cast<size_t>(nh), -7.0f), want(got), near(got);
            scores(hd, keys.data(), krow, n, q.data(), nh, got.data(), s_stride);
            gemm.gemm(hd, keys.data(), krow, static_cast<int>(n), q.data(), static_cast<size_t>(hd) * sizeof(float), nh,
                      want.data(), s_stride);
            for (int h = 0; h < nh; ++h)
              for (int64_t j = 0; j < n; ++j)
                ref.dot(hd, keys.data() + static_cast<size_t>(j) * krow, krow, 1, q.data() + h * hd,
                        near.data() + static_cast<size_t>(h) * s_stride + static_cast<size_t>(j));
            for (size_t i = 0; i < got.size(); ++i) {
              ASSERT_EQ(got[i], want[i]) << "score " << i;  // sentinels included
              ASSERT_NEAR(got[i], near[i], 1e-4f * static_cast<float>(hd)) << "score " << i;
            }
            ++checked;
          }
        }
      }
    }
  }
  if (active_isa() >= Isa::Avx512) {
    EXPECT_GT(checked, 0) << "AVX-512 has key-score kernels for F32 and F16";
  }
}

}  // namespace
}  // namespace tandem
