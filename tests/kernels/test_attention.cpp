// Weighted value rows: every ISA level against the scalar reference, for each KV dtype, on
// shapes with tails (rows, heads and dimensions that are not multiples of the vector tiles).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/quant.h"

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

}  // namespace
}  // namespace tandem
