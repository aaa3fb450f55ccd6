// Float weights (F32, F16, BF16): every ISA level against the scalar reference and the
// reference against a double-precision dot.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/half.h"
#include "kernels/vec_dot.h"

namespace tandem {
namespace {

constexpr DType kFloat[] = {DType::F32, DType::F16, DType::BF16};

// [n] random weights stored as t, and their exact values as doubles.
std::vector<uint8_t> random_weights(DType t, int64_t n, std::mt19937& rng, std::vector<double>* values) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint8_t> out(static_cast<size_t>(n) * block_bytes(t));
  values->resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float v = dist(rng);
    if (t == DType::F32) {
      std::memcpy(out.data() + 4 * i, &v, 4);
      (*values)[i] = v;
    } else if (t == DType::F16) {
      const f16 h = to_f16(v);
      std::memcpy(out.data() + 2 * i, &h, 2);
      (*values)[i] = to_f32(h);
    } else {
      const bf16 h = to_bf16(v);
      std::memcpy(out.data() + 2 * i, &h, 2);
      (*values)[i] = to_f32(h);
    }
  }
  return out;
}

std::vector<float> random_floats(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

// The activation row in the kernel's format, and the f32 values it holds (for the reference).
struct Act {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};
Act convert(const VecDotTable& tab, DType act_type, const std::vector<float>& x) {
  Act a;
  const int64_t k = static_cast<int64_t>(x.size());
  if (act_type == DType::F32) {
    a.values = x;
    a.bytes.resize(x.size() * 4);
    std::memcpy(a.bytes.data(), x.data(), a.bytes.size());
    return a;
  }
  EXPECT_EQ(act_type, DType::BF16);
  a.bytes.resize(x.size() * 2);
  tab.act_quantize[static_cast<size_t>(act_type)](x.data(), a.bytes.data(), k);
  a.values.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    bf16 h;
    std::memcpy(&h, a.bytes.data() + 2 * i, 2);
    a.values[i] = to_f32(h);
  }
  return a;
}

TEST(VecDotFloat, ScalarMatchesDouble) {
  std::mt19937 rng(5);
  for (DType t : kFloat) {
    for (int64_t k : {1, 5, 64, 1000, 4099}) {
      std::vector<double> wv;
      const auto w = random_weights(t, k, rng, &wv);
      const auto x = random_floats(k, rng);
      double exact = 0, abs_sum = 0;
      for (int64_t i = 0; i < k; ++i) {
        exact += wv[i] * x[i];
        abs_sum += std::fabs(wv[i] * x[i]);
      }
      const VecDotKernel& kern = vec_dot_table(Isa::Scalar).by_weight[static_cast<size_t>(t)];
      ASSERT_EQ(kern.act_type, DType::F32);
      float got = 0;
      kern.dot(k, w.data(), 0, 1, x.data(), &got);
      EXPECT_NEAR(got, exact, 1e-5 * abs_sum) << dtype_name(t) << " k=" << k;
    }
  }
}

// Every level against the scalar reference on the activations the level's kernel sees (for
// a BF16-activation kernel, x rounded to bf16, fed to the reference as f32). The only
// difference left is the summation order: within 1e-5 of the sum of |products|.
TEST(VecDotFloat, EveryIsaMatchesScalar) {
  std::mt19937 rng(9);
  const VecDotTable& ref = vec_dot_table(Isa::Scalar);
  for (Isa isa : available_isas()) {
    const VecDotTable& tab = vec_dot_table(isa);
    for (DType t : kFloat) {
      const VecDotKernel& kern = tab.by_weight[static_cast<size_t>(t)];
      ASSERT_NE(kern.dot, nullptr);
      for (int64_t k : {1, 7, 16, 31, 33, 100, 1000, 4096 + 5}) {
        const int max_nr = kern.max_rows + 3;
        const size_t stride = row_bytes(t, k) + (k % 2 ? 2 * block_bytes(t) : 0);
        std::vector<double> wv;
        const auto w = random_weights(t, static_cast<int64_t>(stride / block_bytes(t)) * max_nr, rng, &wv);
        const auto x = random_floats(k, rng);
        const Act a = convert(tab, kern.act_type, x);
        for (int nr = 1; nr <= max_nr; ++nr) {
          std::vector<float> want(nr), got(nr, std::numeric_limits<float>::quiet_NaN());
          ref.by_weight[static_cast<size_t>(t)].dot(k, w.data(), stride, nr, a.values.data(), want.data());
          kern.dot(k, w.data(), stride, nr, a.bytes.data(), got.data());
          for (int r = 0; r < nr; ++r) {
            double abs_sum = 0;
            const size_t base = r * stride / block_bytes(t);
            for (int64_t i = 0; i < k; ++i) abs_sum += std::fabs(wv[base + i] * a.values[i]);
            EXPECT_NEAR(got[r], want[r], 1e-5 * abs_sum)
                << isa_name(isa) << " " << dtype_name(t) << " k=" << k << " nr=" << nr << " r=" << r;
          }
        }
      }
    }
  }
}

// A BF16 activation converter (where a level has one) gives the scalar fp32_to_bf16 bits,
// including ties, NaN, infinities and denormals.
TEST(VecDotFloat, Bf16ActivationsBitExact) {
  std::mt19937 rng(1);
  std::vector<float> x = random_floats(1000, rng);
  const float specials[] = {0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::denorm_min(), -1e-39f,
                            std::bit_cast<float>(0x3f808000u), std::bit_cast<float>(0x3f818000u),
                            std::numeric_limits<float>::max()};
  for (size_t i = 0; i < std::size(specials); ++i) x[i] = specials[i];
  for (Isa isa : available_isas()) {
    const ActQuantizeFn fn = vec_dot_table(isa).act_quantize[static_cast<size_t>(DType::BF16)];
    if (fn == nullptr) continue;
    for (int64_t k : {1000, 999, 17}) {
      std::vector<uint16_t> got(k, 0x1234);
      fn(x.data(), got.data(), k);
      for (int64_t i = 0; i < k; ++i) ASSERT_EQ(got[i], fp32_to_bf16(x[i])) << isa_name(isa) << " i=" << i;
    }
  }
}

}  // namespace
}  // namespace tandem
