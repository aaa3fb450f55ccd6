#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/half.h"
#include "core/quant_blocks.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/vec_dot.h"

namespace tandem {
namespace {

const DType kTypes[] = {DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::vector<float> random_vec(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// nr rows of k weights: either quantized from random floats, or random bytes with small f16
// scales (every bit pattern of the quants and packed scales gets exercised).
std::vector<std::byte> make_rows(DType type, int64_t k, int nr, bool raw, uint32_t seed) {
  const size_t rb = row_bytes(type, k);
  std::vector<std::byte> w(rb * static_cast<size_t>(nr));
  if (!raw) {
    auto src = random_vec(static_cast<size_t>(k) * nr, seed);
    for (int r = 0; r < nr; ++r) quantize_row(type, src.data() + r * k, w.data() + r * rb, k);
    return w;
  }
  std::mt19937 rng(seed);
  for (auto& b : w) b = static_cast<std::byte>(rng());
  std::uniform_real_distribution<float> ud(-0.01f, 0.01f);
  const size_t bb = block_bytes(type);
  for (size_t off = 0; off < w.size(); off += bb) {
    // d (and dmin) as sane halves; Q6_K keeps d at its end.
    const uint16_t d = fp32_to_fp16(ud(rng)), dmin = fp32_to_fp16(ud(rng));
    if (type == DType::Q6_K) {
      std::memcpy(&w[off + bb - 2], &d, 2);
    } else {
      std::memcpy(&w[off], &d, 2);
      std::memcpy(&w[off + 2], &dmin, 2);
    }
  }
  return w;
}

TEST(VecDotK, ScalarMatchesDoubleDotOfDequantizedValues) {
  const VecDotTable& t = vec_dot_table(Isa::Scalar);
  for (DType type : kTypes) {
    for (bool raw : {false, true}) {
      const int64_t k = 4 * kQK_K;
      const auto w = make_rows(type, k, 3, raw, 7);
      const auto x = random_vec(static_cast<size_t>(k), 8);
      std::vector<BlockQ8_K> act(static_cast<size_t>(k / kQK_K));
      t.act_quantize[static_cast<size_t>(DType::Q8_K)](x.data(), act.data(), k);
      std::vector<float> a(static_cast<size_t>(k)), wr(static_cast<size_t>(k));
      dequantize_row(DType::Q8_K, act.data(), a.data(), k);
      float out[3];
      t.by_weight[static_cast<size_t>(type)].dot(k, w.data(), row_bytes(type, k), 3, act.data(), out);
      for (int r = 0; r < 3; ++r) {
        dequantize_row(type, w.data() + r * row_bytes(type, k), wr.data(), k);
        double want = 0, mag = 0;
        for (int64_t i = 0; i < k; ++i) {
          want += double(wr[i]) * a[i];
          mag += std::fabs(double(wr[i]) * a[i]);
        }
        EXPECT_NEAR(out[r], want, 1e-5 * mag + 1e-6) << dtype_name(type) << " raw " << raw << " row " << r;
      }
    }
  }
}

TEST(VecDotK, EveryIsaMatchesScalar) {
  const VecDotTable& ref = vec_dot_table(Isa::Scalar);
  for (Isa isa : available_isas()) {
    const VecDotTable& t = vec_dot_table(isa);
    for (DType type : kTypes) {
      const VecDotKernel& kern = t.by_weight[static_cast<size_t>(type)];
      ASSERT_NE(kern.dot, nullptr) << dtype_name(type) << " at " << isa_name(isa);
      ASSERT_EQ(kern.act_type, DType::Q8_K);
      for (int64_t nblk : {1, 2, 3, 16}) {
        const int64_t k = nblk * kQK_K;
        for (int nr = 1; nr <= kern.max_rows + 2; ++nr) {
          for (bool raw : {false, true}) {
            const auto w = make_rows(type, k, nr, raw, uint32_t(nblk * 31 + nr));
            const auto x = random_vec(static_cast<size_t>(k), uint32_t(nr + 100), 2.0f);
            std::vector<BlockQ8_K> act(static_cast<size_t>(nblk));
            t.act_quantize[static_cast<size_t>(DType::Q8_K)](x.data(), act.data(), k);
            std::vector<BlockQ8_K> act_ref(static_cast<size_t>(nblk));
            ref.act_quantize[static_cast<size_t>(DType::Q8_K)](x.data(), act_ref.data(), k);
            ASSERT_EQ(std::memcmp(act.data(), act_ref.data(), act.size() * sizeof(BlockQ8_K)), 0);
            std::vector<float> got(static_cast<size_t>(nr)), want(static_cast<size_t>(nr));
            const size_t rb = row_bytes(type, k);
            kern.dot(k, w.data(), rb, nr, act.data(), got.data());
            ref.by_weight[static_cast<size_t>(type)].dot(k, w.data(), rb, nr, act.data(), want.data());
            for (int r = 0; r < nr; ++r) {
              // Same integer sums; only the float accumulation order differs.
              ASSERT_NEAR(got[r], want[r], 2e-5 * (std::fabs(want[r]) + 1.0))
                  << dtype_name(type) << " " << isa_name(isa) << " k " << k << " nr " << nr << " r " << r;
            }
          }
        }
      }
    }
  }
}

TEST(VecDotK, MatmulRunsKTypes) {
  for (DType type : kTypes) {
    const int64_t k = 2 * kQK_K, n_out = 37;
    const auto w = make_rows(type, k, static_cast<int>(n_out), false, 3);
    const auto x = random_vec(static_cast<size_t>(3 * k), 4);
    ThreadPool pool(2);
    std::vector<float> y(static_cast<size_t>(3 * n_out));
    const auto tv = TensorView::contiguous(type, {k, n_out}, const_cast<std::byte*>(w.data()));
    matmul(tv, x.data(), 3, y.data(), pool);
    // Against the scalar kernel row by row.
    const VecDotTable& ref = vec_dot_table(Isa::Scalar);
    std::vector<BlockQ8_K> act(static_cast<size_t>(k / kQK_K));
    for (int t = 0; t < 3; ++t) {
      ref.act_quantize[static_cast<size_t>(DType::Q8_K)](x.data() + t * k, act.data(), k);
      for (int64_t o = 0; o < n_out; ++o) {
        float want;
        ref.by_weight[static_cast<size_t>(type)].dot(k, w.data() + o * row_bytes(type, k), 0, 1, act.data(), &want);
        ASSERT_NEAR(y[t * n_out + o], want, 2e-5 * (std::fabs(want) + 1.0)) << dtype_name(type);
      }
    }
  }
}

}  // namespace
}  // namespace tandem
