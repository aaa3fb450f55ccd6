// quantize -> dequantize on random data stays within each format's error bound.
//   F16 / BF16     relative error <= 2^-11 / 2^-8 (round to nearest)
//   Q8_0           |err| <= d/2 per element, d the block's stored scale (plus the f16
//                  rounding of d: q was chosen with the unrounded scale; |q| <= 127)
//   Q4_0 / Q5_0    |err| <= |d| (the level next to the largest value is clamped away)
//   Q4_1 / Q5_1    |err| <= d/2 (+ f16 rounding of d and min)
//   Q8_K           |err| <= |d|/2, d stored in f32
//   K formats      RMS(err) / RMS(x) below a per-format bound on N(0,1) data
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/quant_blocks.h"
#include "kernels/quant.h"

namespace tandem {
namespace {

std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(n);
  for (auto& v : x) v = dist(rng);
  return x;
}

std::vector<float> round_trip(DType t, const std::vector<float>& x, std::vector<uint8_t>& q) {
  const auto n = static_cast<int64_t>(x.size());
  q.assign(row_bytes(t, n), 0);
  std::vector<float> y(x.size());
  quantize_row(t, x.data(), q.data(), n);
  dequantize_row(t, q.data(), y.data(), n);
  return y;
}

constexpr int64_t kN = 256 * 64;

TEST(QuantRoundTrip, FloatFormatsRelativeError) {
  const auto x = gaussian(kN, 1, 3.0f);
  std::vector<uint8_t> q;
  const auto h = round_trip(DType::F16, x, q);
  const auto b = round_trip(DType::BF16, x, q);
  const auto f = round_trip(DType::F32, x, q);
  for (int64_t i = 0; i < kN; ++i) {
    EXPECT_LE(std::fabs(h[i] - x[i]), std::fabs(x[i]) * 0x1p-11f + 0x1p-25f) << i;
    EXPECT_LE(std::fabs(b[i] - x[i]), std::fabs(x[i]) * 0x1p-8f) << i;
    EXPECT_EQ(f[i], x[i]);
  }
}

// Per-element bound for the 32-blocks: factor * |d| plus slack for the f16 rounding of the
// stored scale (each level is off by at most |q| * |d| * 2^-11) and of the min.
template <typename Block>
void check_legacy(DType t, float factor, int qmax) {
  const auto x = gaussian(kN, 2);
  std::vector<uint8_t> q;
  const auto y = round_trip(t, x, q);
  const auto* blocks = reinterpret_cast<const Block*>(q.data());
  for (int64_t i = 0; i < kN; ++i) {
    const Block& blk = blocks[i / kQK];
    const float d = std::fabs(to_f32(blk.d));
    float slack = qmax * d * 0x1p-10f;
    if constexpr (requires { blk.m; }) slack += std::fabs(to_f32(blk.m)) * 0x1p-10f;
    EXPECT_LE(std::fabs(y[i] - x[i]), factor * d + slack) << dtype_name(t) << " element " << i;
  }
}

TEST(QuantRoundTrip, LegacyBlocksWithinBound) {
  check_legacy<BlockQ8_0>(DType::Q8_0, 0.5f, 127);
  check_legacy<BlockQ4_0>(DType::Q4_0, 1.0f, 8);
  check_legacy<BlockQ5_0>(DType::Q5_0, 1.0f, 16);
  check_legacy<BlockQ4_1>(DType::Q4_1, 0.5f, 15);
  check_legacy<BlockQ5_1>(DType::Q5_1, 0.5f, 31);
}

TEST(QuantRoundTrip, Q8_KWithinHalfStep) {
  const auto x = gaussian(kN, 3);
  std::vector<uint8_t> q;
  const auto y = round_trip(DType::Q8_K, x, q);
  const auto* blocks = reinterpret_cast<const BlockQ8_K*>(q.data());
  for (int64_t i = 0; i < kN; ++i) {
    const BlockQ8_K& b = blocks[i / kQK_K];
    EXPECT_LE(std::fabs(y[i] - x[i]), std::fabs(b.d) * 0.5f * (1 + 1e-5f)) << i;
    if (i % 16 == 0) {
      int sum = 0;
      for (int k = 0; k < 16; ++k) sum += b.qs[(i % kQK_K) + k];
      EXPECT_EQ(b.bsums[(i % kQK_K) / 16], sum);
    }
  }
}

double relative_rms(const std::vector<float>& x, const std::vector<float>& y) {
  double e2 = 0, x2 = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    e2 += double(y[i] - x[i]) * (y[i] - x[i]);
    x2 += double(x[i]) * x[i];
  }
  return std::sqrt(e2 / x2);
}

TEST(QuantRoundTrip, KFormatsRelativeRms) {
  // Bounds ~1.3x what these quantizers reach on N(0,1) (each bit about halves the error).
  const struct {
    DType t;
    double bound;
  } cases[] = {{DType::Q2_K, 0.39}, {DType::Q3_K, 0.20}, {DType::Q4_K, 0.095},
               {DType::Q5_K, 0.048}, {DType::Q6_K, 0.024}, {DType::Q4_0, 0.115},
               {DType::Q8_0, 0.007}};  // measured: 0.298 0.150 0.072 0.036 0.018 0.087 0.0053
  const auto x = gaussian(kN, 4);
  for (const auto& c : cases) {
    std::vector<uint8_t> q;
    const double r = relative_rms(x, round_trip(c.t, x, q));
    EXPECT_LT(r, c.bound) << dtype_name(c.t);
    EXPECT_GT(r, 0.0) << dtype_name(c.t);
  }
}

TEST(QuantRoundTrip, ZeroAndConstantBlocks) {
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K,
                  DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K}) {
    std::vector<float> x(512, 0.0f);
    std::vector<uint8_t> q;
    for (float v : round_trip(t, x, q)) EXPECT_EQ(v, 0.0f) << dtype_name(t);
    std::fill(x.begin(), x.end(), -0.75f);
    for (float v : round_trip(t, x, q)) EXPECT_NEAR(v, -0.75f, 0.75f * 0.02f) << dtype_name(t);
  }
}

}  // namespace
}  // namespace tandem
