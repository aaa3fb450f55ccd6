// Edge cases of the operator library that test_element_ops.cpp and test_rope_get_rows.cpp leave
// open: the vector exp measured directly over its whole finite range, in-place calls of every
// two-input SIMD op, NaN propagation, large magnitudes, row broadcast, RoPE with YaRN against a
// double-precision definition (ramp included) in both layouts, hand-checked RoPE at position 7
// with an odd head_dim, and get_rows on BF16 / strided tables / no ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "kernels/element_ops.h"
#include "kernels/get_rows.h"
#include "kernels/quant.h"
#include "kernels/rope.h"

namespace tandem {
namespace {

const int64_t kSizes[] = {1, 3, 15, 17, 127, 4101};

std::vector<float> uniform_row(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Vector exp, measured directly: softmax of the row {0, t} gives out[1] / out[0] = exp(t) / exp(0)
// with exp(0) = 1 exactly, plus two roundings of the common 1/sum scaling (<= 1.2e-7 together).
// Bound: 4e-7 relative on [-87, 0] (the header states ~2 ulp = 2.4e-7). Below ln(FLT_MIN) the
// vector exp flushes to 0 (the true value is subnormal), so the sweep stops at -87. Measured
// worst: 1.1e-7 at every level (scalar, AVX2, AVX-512), i.e. the two normalisation roundings.
TEST(OpsExp, SoftmaxPairRatioIsExpOverWholeRange) {
  for (Isa isa : available_isas()) {
    const ElementOps& ops = element_ops(isa);
    double worst = 0;
    float worst_t = 0;
    for (float t = -87.0f; t <= 0.0f; t += 0.00731f) {
      float row[2] = {0.0f, t};
      ops.softmax(row, 2, 1.0f, nullptr);
      const double got = double(row[1]) / double(row[0]);
      const double want = std::exp(double(t));
      const double rel = std::fabs(got - want) / want;
      if (rel > worst) worst = rel, worst_t = t;
    }
    EXPECT_LT(worst, 4e-7) << isa_name(isa) << " worst at t = " << worst_t;
  }
}

// Far below the range: exactly 0, never NaN or garbage; the largest entry stays 1.
TEST(OpsExp, SoftmaxUnderflowGivesZeroNotGarbage) {
  for (Isa isa : available_isas()) {
    for (float t : {-87.5f, -95.0f, -103.0f, -200.0f, -1e30f}) {
      float row[3] = {0.0f, t, t};
      element_ops(isa).softmax(row, 3, 1.0f, nullptr);
      EXPECT_EQ(row[0], 1.0f) << isa_name(isa) << " t " << t;
      EXPECT_GE(row[1], 0.0f);
      EXPECT_LT(row[1], 1e-37f) << isa_name(isa) << " t " << t;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Every op with out aliasing an input, at every level, equals the out-of-place scalar result
// (tolerances as in OpsIsa.EveryLevelMatchesScalar: vector exp and reduction order).
TEST(OpsIsa, InPlaceEqualsOutOfPlace) {
  const ElementOps& ref = element_ops(Isa::Scalar);
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(std::string(isa_name(isa)));
    const ElementOps& ops = element_ops(isa);
    for (int64_t n : kSizes) {
      SCOPED_TRACE(n);
      const auto x = uniform_row(n, -10, 10, 30 + uint32_t(n));
      const auto y = uniform_row(n, -2, 2, 40 + uint32_t(n));
      std::vector<float> want(x.size()), a;
      auto near = [&](const std::vector<float>& got, double rel, const char* what) {
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_LE(std::fabs(got[i] - want[i]), rel * std::fabs(want[i]) + 1e-7)
              << what << " [" << i << "]";
      };
      ref.swiglu(x.data(), y.data(), want.data(), n);
      a = x, ops.swiglu(a.data(), y.data(), a.data(), n), near(a, 1e-6, "swiglu out=gate");
      a = y, ops.swiglu(x.data(), a.data(), a.data(), n), near(a, 1e-6, "swiglu out=up");
      ref.add(x.data(), y.data(), want.data(), n);
      a = y, ops.add(x.data(), a.data(), a.data(), n), near(a, 0, "add out=b");
      ref.mul(x.data(), y.data(), want.data(), n);
      a = x, ops.mul(a.data(), y.data(), a.data(), n), near(a, 0, "mul out=a");
      ref.scale(x.data(), 3.0f, want.data(), n);
      a = x, ops.scale(a.data(), 3.0f, a.data(), n), near(a, 0, "scale");
      ref.gelu(x.data(), want.data(), n);
      a = x, ops.gelu(a.data(), a.data(), n), near(a, 2e-6, "gelu");
      ref.gelu_erf(x.data(), want.data(), n);
      a = x, ops.gelu_erf(a.data(), a.data(), n), near(a, 1e-6, "gelu_erf");
      ref.rms_norm(x.data(), y.data(), 1e-6f, want.data(), n);
      a = x, ops.rms_norm(a.data(), y.data(), 1e-6f, a.data(), n), near(a, 2e-6, "rms_norm");
      ref.layer_norm(x.data(), y.data(), y.data(), 1e-6f, want.data(), n);
      a = x, ops.layer_norm(a.data(), y.data(), y.data(), 1e-6f, a.data(), n);
      near(a, 2e-6, "layer_norm");
    }
  }
}

// A NaN input shows up as NaN at its own position (activations, arithmetic) or in the row
// (norms), at every level: a broken activation must not be laundered into plausible numbers.
TEST(OpsIsa, NanPropagates) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(std::string(isa_name(isa)));
    const ElementOps& ops = element_ops(isa);
    for (int64_t n : {3, 17, 40}) {
      auto x = uniform_row(n, -3, 3, 50);
      const auto y = uniform_row(n, 0.5f, 1.5f, 51);
      x[static_cast<size_t>(n / 2)] = nan;
      std::vector<float> out(x.size());
      const size_t k = static_cast<size_t>(n / 2);
      ops.silu(x.data(), out.data(), n);
      EXPECT_TRUE(std::isnan(out[k])) << "silu";
      ops.gelu(x.data(), out.data(), n);
      EXPECT_TRUE(std::isnan(out[k])) << "gelu";
      ops.gelu_erf(x.data(), out.data(), n);
      EXPECT_TRUE(std::isnan(out[k])) << "gelu_erf";
      ops.swiglu(x.data(), y.data(), out.data(), n);
      EXPECT_TRUE(std::isnan(out[k])) << "swiglu";
      ops.swiglu(y.data(), x.data(), out.data(), n);
      EXPECT_TRUE(std::isnan(out[k])) << "swiglu up";
      ops.add(x.data(), y.data(), out.data(), n);
      EXPECT_TRUE(std::isnan(out[k])) << "add";
      ops.rms_norm(x.data(), y.data(), 1e-5f, out.data(), n);
      EXPECT_TRUE(std::isnan(out[0])) << "rms_norm";
      ops.layer_norm(x.data(), y.data(), nullptr, 1e-5f, out.data(), n);
      EXPECT_TRUE(std::isnan(out[0])) << "layer_norm";
    }
  }
}

// Saturated activations: no NaN from inf/inf or 0*inf at large |x|, and the limits are right:
// silu(x) -> x and gelu(x) -> x for large x, -> 0 (from below) for large negative x.
TEST(OpsIsa, ActivationsSaturateCleanly) {
  const std::vector<float> x = {-1e30f, -1e4f, -200.0f, -89.0f, -88.0f, -50.0f,
                                50.0f,  88.0f, 89.0f,   200.0f, 1e4f,   1e30f};
  const int64_t n = static_cast<int64_t>(x.size());
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(std::string(isa_name(isa)));
    const ElementOps& ops = element_ops(isa);
    std::vector<float> s(x.size()), g(x.size()), e(x.size());
    ops.silu(x.data(), s.data(), n);
    ops.gelu(x.data(), g.data(), n);
    ops.gelu_erf(x.data(), e.data(), n);
    for (size_t i = 0; i < x.size(); ++i) {
      for (float v : {s[i], g[i], e[i]}) ASSERT_FALSE(std::isnan(v)) << "x " << x[i];
      if (x[i] > 0) {
        EXPECT_EQ(g[i], x[i]) << "gelu x " << x[i];
        EXPECT_EQ(e[i], x[i]) << "gelu_erf x " << x[i];
        EXPECT_EQ(s[i], x[i]) << "silu x " << x[i];
      } else {
        EXPECT_LE(g[i], 0.0f);
        EXPECT_GT(g[i], -1e-30f) << "gelu x " << x[i];
        EXPECT_LE(e[i], 0.0f);
        EXPECT_GT(e[i], -1e-30f) << "gelu_erf x " << x[i];
        // silu(-50) = -50 e^-50 ~ -1e-20: small, not necessarily below 1e-30.
        EXPECT_LE(s[i], 0.0f);
        EXPECT_GT(s[i], -1e-19f) << "silu x " << x[i];
      }
    }
  }
}

// "Massive activations" (|x| ~ 1e4..1e6 in a few channels, seen in real LLM hidden states):
// the norms stay accurate at every level. sum(x^2) here stays far below FLT_MAX.
TEST(OpsIsa, NormsWithMassiveActivations) {
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(std::string(isa_name(isa)));
    for (int64_t n : {127, 4101}) {
      auto x = uniform_row(n, -1, 1, 60);
      x[3] = 2.5e5f, x[static_cast<size_t>(n - 1)] = -1e6f;
      double ss = 0, sum = 0;
      for (float v : x) ss += double(v) * v, sum += v;
      const double r = 1.0 / std::sqrt(ss / double(n) + 1e-6);
      std::vector<float> out(x.size());
      element_ops(isa).rms_norm(x.data(), nullptr, 1e-6f, out.data(), n);
      for (size_t i = 0; i < x.size(); ++i)
        ASSERT_NEAR(out[i], x[i] * r, 2e-6 * std::fabs(x[i] * r) + 1e-9) << i;
      const double mean = sum / double(n);
      double var = 0;
      for (float v : x) var += (v - mean) * (v - mean);
      const double rl = 1.0 / std::sqrt(var / double(n) + 1e-6);
      element_ops(isa).layer_norm(x.data(), nullptr, nullptr, 1e-6f, out.data(), n);
      for (size_t i = 0; i < x.size(); ++i)
        ASSERT_NEAR(out[i], (x[i] - mean) * rl, 1e-5 * std::fabs((x[i] - mean) * rl) + 1e-6) << i;
    }
  }
}

// Regressions once found in the SIMD paths: rms_norm's sum of squares overflowing f32 (now
// summed in double), and a NaN logit vanishing in softmax (the exp's clamp now passes NaN on).
TEST(OpsIsa, RmsNormSumOfSquaresBeyondFloatRange) {
  for (Isa isa : available_isas()) {
    std::vector<float> x(64, 3e18f), out(64);
    x[1] = -3e18f;
    element_ops(isa).rms_norm(x.data(), nullptr, 1e-6f, out.data(), 64);
    EXPECT_NEAR(out[0], 1.0f, 1e-6f) << isa_name(isa);
    EXPECT_NEAR(out[1], -1.0f, 1e-6f) << isa_name(isa);
  }
}

// A NaN score (overflowed QK^T, a bad mask) must show as an all-NaN row, not go unnoticed.
TEST(OpsIsa, SoftmaxNanLogitIsNotLaundered) {
  for (Isa isa : available_isas()) {
    std::vector<float> x(18, 1.0f);
    x[1] = std::numeric_limits<float>::quiet_NaN();
    element_ops(isa).softmax(x.data(), 18, 1.0f, nullptr);
    EXPECT_TRUE(std::isnan(x[1])) << isa_name(isa) << " got " << x[1];
  }
}

// A constant row: layer_norm gives exactly the bias (zero variance, eps keeps it finite).
TEST(OpsReference, LayerNormOfConstantRowIsBias) {
  for (Isa isa : available_isas()) {
    std::vector<float> x(33, 7.25f), w(33, 2.0f), b(33), out(33);
    for (size_t i = 0; i < b.size(); ++i) b[i] = float(i) * 0.5f;
    element_ops(isa).layer_norm(x.data(), w.data(), b.data(), 1e-5f, out.data(), 33);
    for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(out[i], b[i]) << isa_name(isa);
  }
}

// ---------------------------------------------------------------------------------------------
// Softmax: long rows sum to 1 at every level; two unmasked entries with equal logits get 1/2.
TEST(OpsIsa, SoftmaxRowsSumToOneAndSplitEvenly) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(std::string(isa_name(isa)));
    for (int64_t n : kSizes) {
      auto x = uniform_row(n, -30, 30, 70 + uint32_t(n));
      element_ops(isa).softmax(x.data(), n, -0.3f, nullptr);  // negative scale is allowed
      double s = 0;
      for (float v : x) {
        s += v;
        ASSERT_GE(v, 0.0f);
      }
      EXPECT_NEAR(s, 1.0, 2e-6) << n;
      if (n < 3) continue;
      std::vector<float> mask(x.size(), ninf);
      mask[0] = 0.0f, mask[static_cast<size_t>(n - 1)] = 0.0f;
      std::fill(x.begin(), x.end(), 4.0f);
      element_ops(isa).softmax(x.data(), n, 1.0f, mask.data());
      for (int64_t i = 0; i < n; ++i)
        EXPECT_EQ(x[size_t(i)], (i == 0 || i == n - 1) ? 0.5f : 0.0f) << n << " " << i;
    }
  }
}

// Row broadcast over the active level: every row of a [rows][n] block gets the same b.
TEST(OpsReference, RowBroadcastAddMul) {
  for (int64_t n : kSizes) {
    const int64_t rows = 4;
    const auto a = uniform_row(rows * n, -5, 5, 80), b = uniform_row(n, -2, 2, 81);
    std::vector<float> sum(a.size()), prod(a.size());
    add_row(a.data(), b.data(), sum.data(), rows, n);
    mul_row(a.data(), b.data(), prod.data(), rows, n);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < n; ++i) {
        const size_t k = size_t(r * n + i);
        ASSERT_EQ(sum[k], a[k] + b[size_t(i)]);
        ASSERT_EQ(prod[k], a[k] * b[size_t(i)]);
      }
    auto inplace = a;  // in place, as a residual add is used
    add_row(inplace.data(), b.data(), inplace.data(), rows, n);
    EXPECT_EQ(inplace, sum);
  }
}

// ---------------------------------------------------------------------------------------------
// RoPE from ggml's definition in double precision, YaRN included:
//   theta_extrap = pos * base^(-2i/n_dims) / ff[i], theta_interp = freq_scale * theta_extrap,
//   corr dims [low, high] = [max(0, floor(d(beta_fast))), min(n_dims-1, ceil(d(beta_slow)))]
//     with d(b) = n_dims ln(n_ctx_orig / (2 pi b)) / (2 ln base),
//   ramp(i) = 1 - clamp((i - low) / max(0.001, high - low), 0, 1), mix = ramp(i) * ext_factor,
//   theta = theta_interp (1 - mix) + theta_extrap mix,
//   mscale = attn_factor (1 + 0.1 ln(1 / freq_scale)) when ext_factor != 0, else attn_factor.
std::vector<double> rope_yarn_double(const std::vector<float>& v, int pos, const RopeParams& p) {
  std::vector<double> out(v.begin(), v.end());
  const int half = p.n_dims / 2;
  const auto corr = [&](double b) {
    return p.n_dims * std::log(p.n_ctx_orig / (2 * M_PI * b)) / (2 * std::log(double(p.base)));
  };
  const double low = std::max(0.0, std::floor(corr(p.beta_fast)));
  const double high = std::min(double(p.n_dims - 1), std::ceil(corr(p.beta_slow)));
  const bool neox = p.layout == RopeLayout::NeoX;
  for (int i = 0; i < half; ++i) {
    double extrap = pos * std::pow(double(p.base), -2.0 * i / p.n_dims);
    if (p.freq_factors) extrap /= p.freq_factors[i];
    const double interp = p.freq_scale * extrap;
    double theta = interp, m = p.attn_factor;
    if (p.ext_factor != 0) {
      const double y = (i - low) / std::max(0.001, high - low);
      const double mix = (1 - std::clamp(y, 0.0, 1.0)) * p.ext_factor;
      theta = interp * (1 - mix) + extrap * mix;
      m *= 1 + 0.1 * std::log(1.0 / p.freq_scale);
    }
    const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    out[a] = m * (v[a] * std::cos(theta) - v[b] * std::sin(theta));
    out[b] = m * (v[a] * std::sin(theta) + v[b] * std::cos(theta));
  }
  return out;
}

TEST(OpsRope, YarnMatchesDoubleDefinitionBothLayouts) {
  const int head_dim = 80, n_head = 2, n_dims = 64;  // 16 trailing dims untouched
  std::vector<float> ff(n_dims / 2);
  for (size_t i = 0; i < ff.size(); ++i) ff[i] = 1.0f + 0.1f * float(i);
  const int32_t pos[] = {0, 1, 7, 300, 2047};
  const int n_tok = 5;
  for (RopeLayout layout : {RopeLayout::Normal, RopeLayout::NeoX}) {
    for (float ext : {0.0f, 1.0f, 0.5f}) {
      for (const float* factors : {static_cast<const float*>(nullptr), static_cast<const float*>(ff.data())}) {
        RopeParams p;
        p.n_dims = n_dims;
        p.base = 10000.0f;
        p.freq_scale = 0.125f;
        p.freq_factors = factors;
        p.layout = layout;
        p.ext_factor = ext;
        p.attn_factor = 0.9f;
        p.beta_fast = 32.0f;
        p.beta_slow = 1.0f;
        p.n_ctx_orig = 2048;
        const auto x = uniform_row(n_tok * n_head * head_dim, -1, 1, 90);
        auto y = x;
        rope(y.data(), n_tok, n_head, head_dim, pos, p);
        for (int t = 0; t < n_tok; ++t)
          for (int h = 0; h < n_head; ++h) {
            const size_t off = size_t((t * n_head + h) * head_dim);
            const std::vector<float> head(x.begin() + off, x.begin() + off + head_dim);
            const auto want = rope_yarn_double(head, pos[t], p);
            for (int i = 0; i < head_dim; ++i) {
              // f32 angles up to ~2047 rad: a few 1e-4 absolute.
              ASSERT_NEAR(y[off + size_t(i)], want[size_t(i)], 4e-4)
                  << "layout " << int(layout) << " ext " << ext << " ff " << (factors != nullptr)
                  << " t " << t << " i " << i;
              if (i >= n_dims) {
                ASSERT_EQ(y[off + size_t(i)], x[off + size_t(i)]);
              }
            }
          }
      }
    }
  }
}

// Hand-checked at position 7 with an odd head_dim 7, n_dims 4, base 100: pair 0 turns by 7 rad,
// pair 1 by 7 * 100^(-1/2) = 0.7 rad; dims 4..6 untouched. Normal pairs (0,1),(2,3); NeoX (0,2),(1,3).
TEST(OpsRope, HandCheckedPositionSevenOddHeadDim) {
  const float in[] = {1, 2, 3, 4, 5, 6, 7};
  const int32_t pos[] = {7};
  RopeParams p;
  p.n_dims = 4;
  p.base = 100.0f;
  const double c7 = std::cos(7.0), s7 = std::sin(7.0), c07 = std::cos(0.7), s07 = std::sin(0.7);
  std::vector<float> x(in, in + 7);
  rope(x.data(), 1, 1, 7, pos, p);
  EXPECT_NEAR(x[0], 1 * c7 - 2 * s7, 2e-6);
  EXPECT_NEAR(x[1], 1 * s7 + 2 * c7, 2e-6);
  EXPECT_NEAR(x[2], 3 * c07 - 4 * s07, 2e-6);
  EXPECT_NEAR(x[3], 3 * s07 + 4 * c07, 2e-6);
  for (int i = 4; i < 7; ++i) EXPECT_EQ(x[size_t(i)], in[i]);
  x.assign(in, in + 7);
  p.layout = RopeLayout::NeoX;
  rope(x.data(), 1, 1, 7, pos, p);
  EXPECT_NEAR(x[0], 1 * c7 - 3 * s7, 2e-6);
  EXPECT_NEAR(x[2], 1 * s7 + 3 * c7, 2e-6);
  EXPECT_NEAR(x[1], 2 * c07 - 4 * s07, 2e-6);
  EXPECT_NEAR(x[3], 2 * s07 + 4 * c07, 2e-6);
  for (int i = 4; i < 7; ++i) EXPECT_EQ(x[size_t(i)], in[i]);
  // freq_scale 0.5 and factors {2, 4}: angles 7 * 0.5 / 2 = 1.75 and 0.7 * 0.5 / 4 = 0.0875.
  const float ff[] = {2.0f, 4.0f};
  p.layout = RopeLayout::Normal;
  p.freq_scale = 0.5f;
  p.freq_factors = ff;
  x.assign(in, in + 7);
  rope(x.data(), 1, 1, 7, pos, p);
  EXPECT_NEAR(x[0], 1 * std::cos(1.75) - 2 * std::sin(1.75), 2e-6);
  EXPECT_NEAR(x[3], 3 * std::sin(0.0875) + 4 * std::cos(0.0875), 2e-6);
}

// Rotation keeps each pair's length (attn_factor 1, no YaRN) and composes: pos a then pos b
// equals pos a + b (to f32 angle error).
TEST(OpsRope, RotationPreservesNormAndComposes) {
  for (RopeLayout layout : {RopeLayout::Normal, RopeLayout::NeoX}) {
    RopeParams p;
    p.n_dims = 32;
    p.layout = layout;
    const auto x = uniform_row(32, -1, 1, 91);
    auto ab = x, sum = x;
    const int32_t a[] = {5}, b[] = {12}, apb[] = {17};
    rope(ab.data(), 1, 1, 32, a, p);
    rope(ab.data(), 1, 1, 32, b, p);
    rope(sum.data(), 1, 1, 32, apb, p);
    double n0 = 0, n1 = 0;
    for (int i = 0; i < 32; ++i) {
      EXPECT_NEAR(ab[size_t(i)], sum[size_t(i)], 2e-6);
      n0 += double(x[size_t(i)]) * x[size_t(i)], n1 += double(ab[size_t(i)]) * ab[size_t(i)];
    }
    EXPECT_NEAR(n1, n0, 1e-5 * n0);
  }
}

// ---------------------------------------------------------------------------------------------
TEST(OpsGetRows, Bf16AndStridedTablesAndNoIds) {
  const int64_t n = 8, rows = 5;
  std::vector<float> t(size_t(n * rows));
  for (size_t i = 0; i < t.size(); ++i) t[i] = float(i) - 11.5f;  // exact in bf16
  std::vector<bf16> tb(t.size());
  for (size_t i = 0; i < t.size(); ++i) tb[i] = to_bf16(t[i]);
  const int32_t ids[] = {3, 3, 0, 4};
  std::vector<float> out(4 * n, -1.0f);
  get_rows(TensorView::contiguous(DType::BF16, {n, rows}, tb.data()), ids, 4, out.data());
  for (int r = 0; r < 4; ++r)
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(out[size_t(r * n + i)], t[size_t(ids[r] * n + i)]);
  // A strided view: rows 12 floats apart, 8 used (a column slice of a wider table).
  std::vector<float> wide(size_t(12 * rows));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < 12; ++i) wide[size_t(r * 12 + i)] = float(100 * r + i);
  TensorView sv = TensorView::contiguous(DType::F32, {n, rows}, wide.data());
  sv.nb[1] = 12 * sizeof(float);
  sv.nb[2] = sv.nb[3] = sv.nb[1] * size_t(rows);
  get_rows(sv, ids, 4, out.data());
  for (int r = 0; r < 4; ++r)
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(out[size_t(r * n + i)], float(100 * ids[r] + i));
  // No ids: nothing written, no error.
  std::vector<float> untouched(4, 9.0f);
  get_rows(sv, ids, 0, untouched.data());
  EXPECT_EQ(untouched, std::vector<float>(4, 9.0f));
}

// Q8_0 and Q4_K tables of two super-blocks per row, every row fetched once in reverse order.
TEST(OpsGetRows, EveryRowOfQuantizedTablesInReverse) {
  for (DType type : {DType::Q8_0, DType::Q4_K}) {
    const int64_t n = 512, rows = 7;
    const auto src = uniform_row(n * rows, -2, 2, 92);
    const size_t rb = row_bytes(type, n);
    std::vector<std::byte> q(rb * size_t(rows));
    for (int64_t r = 0; r < rows; ++r) quantize_row(type, src.data() + r * n, q.data() + size_t(r) * rb, n);
    std::vector<int32_t> ids(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) ids[size_t(r)] = int32_t(rows - 1 - r);
    std::vector<float> out(static_cast<size_t>(rows * n)), want(static_cast<size_t>(n));
    get_rows(TensorView::contiguous(type, {n, rows}, q.data()), ids.data(), rows, out.data());
    for (int64_t k = 0; k < rows; ++k) {
      dequantize_row(type, q.data() + size_t(ids[size_t(k)]) * rb, want.data(), n);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(out[size_t(k * n + i)], want[size_t(i)]) << dtype_name(type) << " row " << k;
    }
    // A bad id after good ones still throws (the caller's output is then partly written).
    const int32_t bad[] = {0, int32_t(rows)};
    EXPECT_THROW(get_rows(TensorView::contiguous(type, {n, rows}, q.data()), bad, 2, out.data()),
                 InputError);
  }
}

}  // namespace
}  // namespace tandem
