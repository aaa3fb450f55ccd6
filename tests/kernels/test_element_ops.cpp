#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/element_ops.h"

namespace tandem {
namespace {

const int64_t kSizes[] = {1, 3, 15, 16, 17, 127, 4101};

std::vector<float> random_row(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

// |got - want| <= rel * |want| + abs for every element.
void expect_close(const std::vector<float>& got, const std::vector<double>& want, double rel,
                  double abs, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::fabs(got[i] - want[i]), rel * std::fabs(want[i]) + abs)
        << what << " [" << i << "] got " << got[i] << " want " << want[i];
}

TEST(OpsReference, RmsNormAndLayerNormMatchDoubleFormula) {
  const ElementOps& ops = element_ops(Isa::Scalar);
  for (int64_t n : kSizes) {
    auto x = random_row(n, -3, 3, 1);
    auto w = random_row(n, 0.5f, 1.5f, 2);
    auto b = random_row(n, -1, 1, 3);
    double ss = 0, sum = 0;
    for (float v : x) ss += double(v) * v, sum += v;
    const double r = 1.0 / std::sqrt(ss / n + 1e-5);
    std::vector<double> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] * r * w[i];
    std::vector<float> out(x.size());
    ops.rms_norm(x.data(), w.data(), 1e-5f, out.data(), n);
    expect_close(out, want, 1e-6, 1e-7, "rms_norm");

    const double mean = sum / n;
    double var = 0;
    for (float v : x) var += (v - mean) * (v - mean);
    const double rl = 1.0 / std::sqrt(var / n + 1e-5);
    for (size_t i = 0; i < x.size(); ++i) want[i] = (x[i] - mean) * rl * w[i] + b[i];
    ops.layer_norm(x.data(), w.data(), b.data(), 1e-5f, out.data(), n);
    expect_close(out, want, 1e-5, 1e-6, "layer_norm");
  }
}

TEST(OpsReference, ActivationsMatchDoubleFormula) {
  const ElementOps& ops = element_ops(Isa::Scalar);
  for (int64_t n : kSizes) {
    auto x = random_row(n, -12, 12, 4);
    auto up = random_row(n, -2, 2, 5);
    std::vector<float> out(x.size());
    std::vector<double> want(x.size());
    ops.silu(x.data(), out.data(), n);
    for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] / (1.0 + std::exp(-double(x[i])));
    expect_close(out, want, 1e-6, 1e-7, "silu");
    ops.swiglu(x.data(), up.data(), out.data(), n);
    for (size_t i = 0; i < x.size(); ++i) want[i] *= up[i];
    expect_close(out, want, 1e-6, 1e-7, "swiglu");
    ops.gelu(x.data(), out.data(), n);
    for (size_t i = 0; i < x.size(); ++i) {
      const double v = x[i];
      want[i] = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    }
    expect_close(out, want, 2e-6, 1e-7, "gelu");
    ops.gelu_erf(x.data(), out.data(), n);
    for (size_t i = 0; i < x.size(); ++i) want[i] = 0.5 * x[i] * (1 + std::erf(x[i] / std::sqrt(2.0)));
    expect_close(out, want, 1e-6, 1e-7, "gelu_erf");
  }
}

TEST(OpsReference, SoftmaxWithScaleAndMask) {
  const ElementOps& ops = element_ops(Isa::Scalar);
  for (int64_t n : kSizes) {
    auto x = random_row(n, -20, 20, 6);
    auto mask = random_row(n, -5, 0, 7);
    if (n > 2) mask[1] = -std::numeric_limits<float>::infinity();
    std::vector<double> want(x.size());
    double mx = -INFINITY, sum = 0;
    for (size_t i = 0; i < x.size(); ++i) mx = std::max(mx, 0.5 * x[i] + mask[i]);
    for (size_t i = 0; i < x.size(); ++i) sum += want[i] = std::exp(0.5 * x[i] + mask[i] - mx);
    for (double& w : want) w /= sum;
    ops.softmax(x.data(), n, 0.5f, mask.data());
    expect_close(x, want, 1e-5, 1e-9, "softmax");
    if (n > 2) {
      EXPECT_EQ(x[1], 0.0f);
    }
  }
}

TEST(OpsReference, ArithmeticIsExact) {
  const ElementOps& ops = element_ops(Isa::Scalar);
  auto a = random_row(17, -3, 3, 8), b = random_row(17, -3, 3, 9);
  std::vector<float> out(17);
  ops.add(a.data(), b.data(), out.data(), 17);
  for (int i = 0; i < 17; ++i) EXPECT_EQ(out[i], a[i] + b[i]);
  ops.mul(a.data(), b.data(), out.data(), 17);
  for (int i = 0; i < 17; ++i) EXPECT_EQ(out[i], a[i] * b[i]);
  ops.scale(a.data(), 0.25f, out.data(), 17);
  for (int i = 0; i < 17; ++i) EXPECT_EQ(out[i], a[i] * 0.25f);
  std::vector<float> rows(3 * 17), res(3 * 17);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = float(i);
  add_row(rows.data(), b.data(), res.data(), 3, 17);
  EXPECT_EQ(res[2 * 17 + 5], rows[2 * 17 + 5] + b[5]);
  mul_row(rows.data(), b.data(), res.data(), 3, 17);
  EXPECT_EQ(res[1 * 17 + 16], rows[1 * 17 + 16] * b[16]);
}

// Every SIMD level against the scalar reference. The vector exp has <= 2 ulp-level error and
// reductions sum in a different order, hence the relative tolerances.
TEST(OpsIsa, EveryLevelMatchesScalar) {
  const ElementOps& ref = element_ops(Isa::Scalar);
  for (Isa isa : available_isas()) {
    if (isa == Isa::Scalar) continue;
    SCOPED_TRACE(std::string(isa_name(isa)));
    const ElementOps& ops = element_ops(isa);
    for (int64_t n : kSizes) {
      auto x = random_row(n, -15, 15, 10 + uint32_t(n));
      auto y = random_row(n, -2, 2, 20 + uint32_t(n));
      std::vector<float> a(x.size()), b(x.size());
      std::vector<double> want(x.size());
      auto check = [&](double rel, double abs, const char* what) {
        for (size_t i = 0; i < want.size(); ++i) want[i] = a[i];
        expect_close(b, want, rel, abs, what);
      };
      ref.rms_norm(x.data(), y.data(), 1e-6f, a.data(), n);
      ops.rms_norm(x.data(), y.data(), 1e-6f, b.data(), n);
      check(2e-6, 1e-7, "rms_norm");
      ref.rms_norm(x.data(), nullptr, 1e-6f, a.data(), n);
      ops.rms_norm(x.data(), nullptr, 1e-6f, b.data(), n);
      check(2e-6, 1e-7, "rms_norm no weight");
      ref.silu(x.data(), a.data(), n);
      ops.silu(x.data(), b.data(), n);
      check(1e-6, 1e-7, "silu");
      ref.gelu(x.data(), a.data(), n);
      ops.gelu(x.data(), b.data(), n);
      check(2e-6, 1e-7, "gelu");
      ref.swiglu(x.data(), y.data(), a.data(), n);
      ops.swiglu(x.data(), y.data(), b.data(), n);
      check(1e-6, 1e-7, "swiglu");
      a = x, b = x;
      ref.softmax(a.data(), n, 0.7f, y.data());
      ops.softmax(b.data(), n, 0.7f, y.data());
      check(2e-6, 1e-10, "softmax");
      ref.add(x.data(), y.data(), a.data(), n);
      ops.add(x.data(), y.data(), b.data(), n);
      check(0, 0, "add");
      ref.mul(x.data(), y.data(), a.data(), n);
      ops.mul(x.data(), y.data(), b.data(), n);
      check(0, 0, "mul");
      ref.scale(x.data(), -1.5f, a.data(), n);
      ops.scale(x.data(), -1.5f, b.data(), n);
      check(0, 0, "scale");
      // In place.
      b = x;
      ops.silu(b.data(), b.data(), n);
      ref.silu(x.data(), a.data(), n);
      check(1e-6, 1e-7, "silu in place");
    }
  }
}

// The vector exp inside silu over a dense sweep of [-80, 80]: silu(x) = x * sigmoid(x).
TEST(OpsIsa, VectorExpAccuracy) {
  std::vector<float> x;
  for (float v = -80.0f; v <= 80.0f; v += 0.0137f) x.push_back(v);
  std::vector<float> out(x.size());
  for (Isa isa : available_isas()) {
    element_ops(isa).silu(x.data(), out.data(), static_cast<int64_t>(x.size()));
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = x[i] / (1.0 + std::exp(-double(x[i])));
      if (want == 0) continue;
      worst = std::max(worst, std::fabs(out[i] - want) / std::fabs(want));
    }
    EXPECT_LT(worst, 1e-6) << isa_name(isa);
  }
}

TEST(OpsIsa, SoftmaxEdgeRows) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (Isa isa : available_isas()) {
    for (int64_t n : {1, 5, 16, 33}) {
      std::vector<float> x(static_cast<size_t>(n), 3.0f), mask(static_cast<size_t>(n), ninf);
      mask[static_cast<size_t>(n - 1)] = 0.0f;  // all masked but the last: one-hot
      element_ops(isa).softmax(x.data(), n, 1.0f, mask.data());
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(x[static_cast<size_t>(i)], i == n - 1 ? 1.0f : 0.0f);
      std::fill(mask.begin(), mask.end(), ninf);  // all masked: zeros, never NaN
      std::fill(x.begin(), x.end(), 1.0f);
      element_ops(isa).softmax(x.data(), n, 1.0f, mask.data());
      for (float v : x) EXPECT_EQ(v, 0.0f);
      // Huge logits do not overflow; the row sums to 1.
      for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = 1e30f * float(i % 3);
      element_ops(isa).softmax(x.data(), n, 1.0f, nullptr);
      double s = 0;
      for (float v : x) {
        s += v;
        EXPECT_FALSE(std::isnan(v));
      }
      EXPECT_NEAR(s, 1.0, 1e-6);
    }
  }
}

}  // namespace
}  // namespace tandem
