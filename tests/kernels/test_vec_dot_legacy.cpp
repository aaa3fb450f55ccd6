// Legacy 32-blocks . Q8_0 activations: every ISA level against the scalar reference, the
// reference against a double-precision dot of the dequantized values, and the Q8_0 activation
// quantizer against hand-computed blocks and across levels (bytes must match exactly).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/quant_blocks.h"
#include "kernels/quant.h"
#include "kernels/vec_dot.h"

namespace tandem {
namespace {

constexpr DType kLegacy[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1};

// Random blocks of a legacy type (every bit pattern of qs / qh is valid); scales are small
// halves of either sign, so sums stay far from overflow.
std::vector<uint8_t> random_blocks(DType t, int64_t n_blocks, std::mt19937& rng) {
  std::vector<uint8_t> v(static_cast<size_t>(n_blocks) * block_bytes(t));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : v) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> scale(-0.02f, 0.02f);
  for (int64_t i = 0; i < n_blocks; ++i) {
    uint8_t* blk = v.data() + i * block_bytes(t);
    const f16 d = to_f16(scale(rng)), m = to_f16(scale(rng));
    std::memcpy(blk, &d, 2);
    if (t == DType::Q4_1 || t == DType::Q5_1) std::memcpy(blk + 2, &m, 2);
  }
  return v;
}

// Test-local dequantization (written from the block layouts, independent of the kernels).
std::vector<double> dequantize(DType t, const uint8_t* p, int64_t k) {
  std::vector<double> out(static_cast<size_t>(k));
  for (int64_t b = 0; b < k / kQK; ++b) {
    const uint8_t* blk = p + b * block_bytes(t);
    f16 d16, m16{0};
    std::memcpy(&d16, blk, 2);
    const double d = to_f32(d16);
    double m = 0;
    const uint8_t* qs = nullptr;
    uint32_t qh = 0;
    int offset = 0;
    switch (t) {
      case DType::Q8_0:
        for (int j = 0; j < kQK; ++j) out[b * kQK + j] = d * static_cast<int8_t>(blk[2 + j]);
        continue;
      case DType::Q4_0: qs = blk + 2; offset = 8; break;
      case DType::Q4_1: std::memcpy(&m16, blk + 2, 2); m = to_f32(m16); qs = blk + 4; break;
      case DType::Q5_0: std::memcpy(&qh, blk + 2, 4); qs = blk + 6; offset = 16; break;
      case DType::Q5_1:
        std::memcpy(&m16, blk + 2, 2);
        m = to_f32(m16);
        std::memcpy(&qh, blk + 4, 4);
        qs = blk + 8;
        break;
      default: ADD_FAILURE() << "unexpected type"; return out;
    }
    const bool five = t == DType::Q5_0 || t == DType::Q5_1;
    for (int j = 0; j < kQK; ++j) {
      int q = j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
      if (five) q |= static_cast<int>((qh >> j) & 1u) << 4;
      out[b * kQK + j] = d * (q - offset) + m;
    }
  }
  return out;
}

std::vector<float> random_floats(int64_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<BlockQ8_0> quantize_act(const float* x, int64_t k) {
  std::vector<BlockQ8_0> a(static_cast<size_t>(k / kQK));
  quantize_row_q8_0_act(x, a.data(), k);
  return a;
}

TEST(VecDotLegacy, ScalarKernelsRegistered) {
  for (DType t : kLegacy) {
    const VecDotKernel& kern = vec_dot_table(Isa::Scalar).by_weight[static_cast<size_t>(t)];
    EXPECT_NE(kern.dot, nullptr) << dtype_name(t);
    EXPECT_EQ(kern.act_type, DType::Q8_0) << dtype_name(t);
  }
  EXPECT_NE(vec_dot_table(Isa::Scalar).act_quantize[static_cast<size_t>(DType::Q8_0)], nullptr);
}

// The reference equals a double-precision dot of the dequantized weights and activations up
// to f32 rounding (1e-5 of the sum of |products|), and the dot with the original f32
// activations up to the activation quantization error (half a step d_a/2 per element).
TEST(VecDotLegacy, ScalarMatchesDequantizedDouble) {
  std::mt19937 rng(7);
  for (DType t : kLegacy) {
    for (int64_t nb : {1, 2, 5, 64, 129}) {
      const int64_t k = nb * kQK;
      const auto w = random_blocks(t, nb, rng);
      const auto x = random_floats(k, rng);
      const auto a = quantize_act(x.data(), k);
      const auto wd = dequantize(t, w.data(), k);
      const auto ad = dequantize(DType::Q8_0, reinterpret_cast<const uint8_t*>(a.data()), k);
      double exact = 0, abs_sum = 0, vs_x = 0, act_err = 0;
      for (int64_t i = 0; i < k; ++i) {
        exact += wd[i] * ad[i];
        abs_sum += std::fabs(wd[i] * ad[i]);
        vs_x += wd[i] * x[i];
        act_err += std::fabs(wd[i]) * to_f32(a[i / kQK].d) * 0.5;
      }
      float got = 0;
      vec_dot_table(Isa::Scalar).by_weight[static_cast<size_t>(t)].dot(k, w.data(), 0, 1, a.data(), &got);
      EXPECT_NEAR(got, exact, 1e-5 * abs_sum + 1e-30) << dtype_name(t) << " k=" << k;
      EXPECT_NEAR(got, vs_x, act_err * 1.01 + 1e-5 * abs_sum) << dtype_name(t) << " k=" << k;
    }
  }
}

// Every level against the scalar reference, nr = 1 .. max_rows + 3 rows (odd counts, several
// chunks), k of one to many blocks. Integer block sums are exact, so the only difference is the
// f32 accumulation order: within 1e-5 of the sum of |products|.
TEST(VecDotLegacy, EveryIsaMatchesScalar) {
  std::mt19937 rng(11);
  const VecDotTable& ref = vec_dot_table(Isa::Scalar);
  for (Isa isa : available_isas()) {
    const VecDotTable& tab = vec_dot_table(isa);
    for (DType t : kLegacy) {
      const VecDotKernel& kern = tab.by_weight[static_cast<size_t>(t)];
      ASSERT_NE(kern.dot, nullptr);
      for (int64_t nb : {1, 3, 8, 37, 128}) {
        const int64_t k = nb * kQK;
        const size_t stride = row_bytes(t, k) + (nb % 2 ? 6 : 0);  // strided rows too
        const int max_nr = kern.max_rows + 3;
        std::vector<uint8_t> w(stride * max_nr);
        for (int r = 0; r < max_nr; ++r) {
          const auto row = random_blocks(t, nb, rng);
          std::memcpy(w.data() + r * stride, row.data(), row.size());
        }
        const auto x = random_floats(k, rng);
        const auto a = quantize_act(x.data(), k);
        const auto ad = dequantize(DType::Q8_0, reinterpret_cast<const uint8_t*>(a.data()), k);
        for (int nr = 1; nr <= max_nr; ++nr) {
          std::vector<float> want(nr), got(nr, std::numeric_limits<float>::quiet_NaN());
          ref.by_weight[static_cast<size_t>(t)].dot(k, w.data(), stride, nr, a.data(), want.data());
          kern.dot(k, w.data(), stride, nr, a.data(), got.data());
          for (int r = 0; r < nr; ++r) {
            const auto wd = dequantize(t, w.data() + r * stride, k);
            double abs_sum = 0;
            for (int64_t i = 0; i < k; ++i) abs_sum += std::fabs(wd[i] * ad[i]);
            EXPECT_NEAR(got[r], want[r], 1e-5 * abs_sum + 1e-30)
                << isa_name(isa) << " " << dtype_name(t) << " k=" << k << " nr=" << nr << " r=" << r;
          }
        }
      }
    }
  }
}

// Hand-computed blocks: d = amax / 127 as an f16, q = roundf(x / d), ties away from zero.
TEST(VecDotLegacy, QuantizeQ8_0HandComputed) {
  std::vector<float> x(3 * kQK, 0.0f);
  // Block 0: amax 127 -> d = 1 (f16 0x3c00), id = 1; q = roundf(x).
  const float b0[] = {127.0f, -127.0f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 0.49999997f, 126.5f, -3.25f, 3.75f};
  const int8_t q0[] = {127, -127, 1, -1, 2, 3, -3, 0, 127, -3, 4};
  for (size_t j = 0; j < std::size(b0); ++j) x[j] = b0[j];
  // Block 1: all zeros -> d = 0, q = 0.
  // Block 2: amax 63.5 -> d = 0.5 (f16 0x3800), id = 2.
  const float b2[] = {63.5f, 0.25f, -0.75f, -63.5f, 0.2f, 10.0f};
  const int8_t q2[] = {127, 1, -2, -127, 0, 20};
  for (size_t j = 0; j < std::size(b2); ++j) x[2 * kQK + j] = b2[j];
  for (Isa isa : available_isas()) {
    std::vector<BlockQ8_0> y(3);
    std::memset(y.data(), 0x55, sizeof(BlockQ8_0) * 3);
    vec_dot_table(isa).act_quantize[static_cast<size_t>(DType::Q8_0)](x.data(), y.data(), 3 * kQK);
    EXPECT_EQ(y[0].d.bits, 0x3c00) << isa_name(isa);
    EXPECT_EQ(y[1].d.bits, 0x0000) << isa_name(isa);
    EXPECT_EQ(y[2].d.bits, 0x3800) << isa_name(isa);
    for (int j = 0; j < kQK; ++j) {
      EXPECT_EQ(y[0].qs[j], j < int(std::size(q0)) ? q0[j] : 0) << isa_name(isa) << " j=" << j;
      EXPECT_EQ(y[1].qs[j], 0) << isa_name(isa) << " j=" << j;
      EXPECT_EQ(y[2].qs[j], j < int(std::size(q2)) ? q2[j] : 0) << isa_name(isa) << " j=" << j;
    }
  }
}

// Every level writes the same bytes as the scalar quantizer: random data, and exact ties
// (x * id = n + 0.5 with a power-of-two d) where the rounding mode shows.
TEST(VecDotLegacy, QuantizeQ8_0EveryIsaBitExact) {
  std::mt19937 rng(3);
  const int64_t nb = 257;
  std::vector<float> x = random_floats(nb * kQK, rng, 3.0f);
  std::uniform_int_distribution<int> qd(-127, 126);
  for (int64_t b = 0; b < nb; b += 2) {  // every other block: ties
    const float d = std::ldexp(1.0f, static_cast<int>(b % 20) - 10);
    for (int j = 0; j < kQK; ++j) x[b * kQK + j] = (static_cast<float>(qd(rng)) + 0.5f) * d;
    x[b * kQK + (b % kQK)] = (b % 4 ? 127.0f : -127.0f) * d;
  }
  for (int j = 0; j < kQK; ++j) x[kQK + j] *= 1e-30f;  // tiny values, subnormal half scale
  std::vector<BlockQ8_0> want(nb);
  quantize_row_q8_0_act(x.data(), want.data(), nb * kQK);
  for (Isa isa : available_isas()) {
    std::vector<BlockQ8_0> got(nb);
    vec_dot_table(isa).act_quantize[static_cast<size_t>(DType::Q8_0)](x.data(), got.data(), nb * kQK);
    EXPECT_EQ(std::memcmp(got.data(), want.data(), sizeof(BlockQ8_0) * nb), 0) << isa_name(isa);
    for (int64_t b = 0; b < nb; ++b) {
      ASSERT_EQ(got[b].d.bits, want[b].d.bits) << isa_name(isa) << " block " << b;
      for (int j = 0; j < kQK; ++j)
        ASSERT_EQ(got[b].qs[j], want[b].qs[j]) << isa_name(isa) << " block " << b << " j=" << j;
    }
  }
}

// The activation quantizer and the Q8_0 storage quantizer (quant.h, written from ggml's
// reference independently) agree byte for byte.
TEST(VecDotLegacy, QuantizeQ8_0MatchesStorageQuantizer) {
  if (!can_quantize(DType::Q8_0)) GTEST_SKIP() << "no Q8_0 storage quantizer registered";
  std::mt19937 rng(12);
  const int64_t k = 64 * kQK;
  const auto x = random_floats(k, rng, 2.0f);
  std::vector<BlockQ8_0> a(k / kQK), b(k / kQK);
  quantize_row_q8_0_act(x.data(), a.data(), k);
  quantize_row(DType::Q8_0, x.data(), b.data(), k);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(BlockQ8_0) * a.size()), 0);
}

}  // namespace
}  // namespace tandem
