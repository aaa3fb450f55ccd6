#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "kernels/get_rows.h"
#include "kernels/quant.h"
#include "kernels/rope.h"

namespace tandem {
namespace {

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// The rotation of one head written from the definition in double precision (no YaRN).
std::vector<double> rope_double(const std::vector<float>& v, int pos, int n_dims, double base,
                                double freq_scale, const float* ff, bool neox) {
  std::vector<double> out(v.begin(), v.end());
  const int half = n_dims / 2;
  for (int i = 0; i < half; ++i) {
    double theta = pos * std::pow(base, -2.0 * i / n_dims) * freq_scale;
    if (ff) theta /= ff[i];
    const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    out[a] = v[a] * std::cos(theta) - v[b] * std::sin(theta);
    out[b] = v[a] * std::sin(theta) + v[b] * std::cos(theta);
  }
  return out;
}

TEST(OpsRope, PositionZeroIsIdentity) {
  for (RopeLayout layout : {RopeLayout::Normal, RopeLayout::NeoX}) {
    auto x = random_vec(2 * 3 * 64, 1);
    auto y = x;
    const int32_t pos[] = {0, 0};
    RopeParams p;
    p.n_dims = 64;
    p.layout = layout;
    rope(y.data(), 2, 3, 64, pos, p);
    EXPECT_EQ(x, y);
  }
}

TEST(OpsRope, HandCheckedPairs) {
  // head_dim 4, n_dims 4, base 10000: pair 0 turns by pos rad, pair 1 by pos/100 rad.
  const float in[] = {1, 2, 3, 4};
  const int32_t pos[] = {1};
  RopeParams p;
  p.n_dims = 4;
  std::vector<float> x(in, in + 4);
  rope(x.data(), 1, 1, 4, pos, p);  // normal: pairs (0,1) and (2,3)
  EXPECT_NEAR(x[0], std::cos(1.0) - 2 * std::sin(1.0), 1e-6);
  EXPECT_NEAR(x[1], std::sin(1.0) + 2 * std::cos(1.0), 1e-6);
  EXPECT_NEAR(x[2], 3 * std::cos(0.01) - 4 * std::sin(0.01), 1e-6);
  EXPECT_NEAR(x[3], 3 * std::sin(0.01) + 4 * std::cos(0.01), 1e-6);
  x.assign(in, in + 4);
  p.layout = RopeLayout::NeoX;  // pairs (0,2) and (1,3)
  rope(x.data(), 1, 1, 4, pos, p);
  EXPECT_NEAR(x[0], std::cos(1.0) - 3 * std::sin(1.0), 1e-6);
  EXPECT_NEAR(x[2], std::sin(1.0) + 3 * std::cos(1.0), 1e-6);
  EXPECT_NEAR(x[1], 2 * std::cos(0.01) - 4 * std::sin(0.01), 1e-6);
  EXPECT_NEAR(x[3], 2 * std::sin(0.01) + 4 * std::cos(0.01), 1e-6);
}

TEST(OpsRope, MatchesDefinitionWithPartialDimsScalingAndFactors) {
  const int head_dim = 64, n_head = 3;
  std::vector<float> ff(16);
  for (int i = 0; i < 16; ++i) ff[i] = 1.0f + 0.25f * static_cast<float>(i);
  for (bool neox : {false, true}) {
    for (int n_dims : {32, 64}) {
      for (float freq_scale : {1.0f, 0.25f}) {
        for (const float* factors : {static_cast<const float*>(nullptr), static_cast<const float*>(ff.data())}) {
          if (factors && n_dims != 32) continue;
          const int32_t pos[] = {0, 1, 7, 1000};
          auto x = random_vec(4 * n_head * head_dim, 2);
          auto y = x;
          RopeParams p;
          p.n_dims = n_dims;
          p.base = 500000.0f;
          p.freq_scale = freq_scale;
          p.freq_factors = factors;
          p.layout = neox ? RopeLayout::NeoX : RopeLayout::Normal;
          rope(y.data(), 4, n_head, head_dim, pos, p);
          for (int t = 0; t < 4; ++t)
            for (int h = 0; h < n_head; ++h) {
              const size_t off = static_cast<size_t>((t * n_head + h) * head_dim);
              std::vector<float> head(x.begin() + off, x.begin() + off + head_dim);
              auto want = rope_double(head, pos[t], n_dims, 500000.0, freq_scale, factors, neox);
              for (int i = 0; i < head_dim; ++i) {
                // Angles up to 1000 rad in f32: allow the f32 angle error.
                ASSERT_NEAR(y[off + i], want[i], 2e-4 * (1 + std::fabs(want[i])))
                    << "t " << t << " h " << h << " i " << i << " neox " << neox << " dims " << n_dims;
                if (i >= n_dims) {
                  EXPECT_EQ(y[off + i], x[off + i]);
                }
              }
            }
        }
      }
    }
  }
}

TEST(OpsRope, YarnRampAndMagnitude) {
  // YaRN with freq_scale 1 changes nothing but the magnitude: mscale = attn_factor.
  RopeParams p;
  p.n_dims = 64;
  p.ext_factor = 1.0f;
  p.attn_factor = 1.0f;
  p.n_ctx_orig = 4096;
  auto x = random_vec(64, 3), y = x, z = x;
  const int32_t pos[] = {100};
  rope(y.data(), 1, 1, 64, pos, p);
  RopeParams plain;
  plain.n_dims = 64;
  rope(z.data(), 1, 1, 64, pos, plain);
  for (int i = 0; i < 64; ++i) EXPECT_NEAR(y[i], z[i], 1e-6);
  // With scaling 1/4: low-index pairs (fast) keep the unscaled angle, high ones interpolate,
  // and cos/sin carry the magnitude 1 + 0.1 ln 4.
  float dims[2];
  rope_yarn_corr_dims(64, 4096, 10000.0f, 32.0f, 1.0f, dims);
  EXPECT_GT(dims[1], dims[0]);
  p.freq_scale = 0.25f;
  y = x;
  rope(y.data(), 1, 1, 64, pos, p);
  const double m = 1.0 + 0.1 * std::log(4.0);
  // Pair 0 (i0 = 0 < low): fully extrapolated angle = pos.
  EXPECT_NEAR(y[0], m * (x[0] * std::cos(100.0) - x[1] * std::sin(100.0)), 1e-4);
  // Last pair (index 31 > high): fully interpolated.
  const double th = 100.0 * std::pow(10000.0, -62.0 / 64) * 0.25;
  EXPECT_NEAR(y[62], m * (x[62] * std::cos(th) - x[63] * std::sin(th)), 1e-5);
}

TEST(OpsGetRows, FloatTablesGiveTheirRows) {
  std::vector<float> t(5 * 8);
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i) * 0.5f;
  std::vector<f16> h(t.size());
  for (size_t i = 0; i < t.size(); ++i) h[i] = to_f16(t[i]);
  const int32_t ids[] = {4, 0, 4, 2};
  for (auto tv : {TensorView::contiguous(DType::F32, {8, 5}, t.data()),
                  TensorView::contiguous(DType::F16, {8, 5}, h.data())}) {
    std::vector<float> out(4 * 8);
    get_rows(tv, ids, 4, out.data());
    for (int r = 0; r < 4; ++r)
      for (int i = 0; i < 8; ++i) EXPECT_EQ(out[r * 8 + i], t[ids[r] * 8 + i]);
  }
}

TEST(OpsGetRows, QuantizedTablesMatchDequantize) {
  for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t n = 512, rows = 6;
    auto src = random_vec(static_cast<size_t>(n * rows), 4);
    std::vector<std::byte> q(row_bytes(type, n) * rows);
    for (int64_t r = 0; r < rows; ++r)
      quantize_row(type, src.data() + r * n, q.data() + r * row_bytes(type, n), n);
    const auto tv = TensorView::contiguous(type, {n, rows}, q.data());
    const int32_t ids[] = {5, 1};
    std::vector<float> out(2 * n), want(n);
    get_rows(tv, ids, 2, out.data());
    for (int k = 0; k < 2; ++k) {
      dequantize_row(type, q.data() + ids[k] * row_bytes(type, n), want.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[k * n + i], want[i]) << dtype_name(type);
    }
  }
}

TEST(OpsGetRows, BadIdIsAnInputError) {
  std::vector<float> t(4 * 2);
  const auto tv = TensorView::contiguous(DType::F32, {4, 2}, t.data());
  std::vector<float> out(4);
  for (int32_t id : {2, -1}) {
    try {
      get_rows(tv, &id, 1, out.data());
      FAIL() << "id " << id << " accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("outside the table's 2 rows"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace tandem
