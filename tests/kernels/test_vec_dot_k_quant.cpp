// The Q8_K activation quantizer (act_quantize[Q8_K]): hand-computed blocks, the reconstruction
// bound |x - d*q| <= |d|/2 (+ float rounding), bsums, every ISA byte-identical to the scalar
// one, and the scalar one byte-identical to the generic quantize_row(Q8_K) (both are ggml's
// quantize_row_q8_K_ref).
//
// The rule (ggml): max = the first value of largest magnitude, sign kept; iscale = -127 / max;
// q = min(127, nearest(iscale * x)) with ties to even; d = 1 / iscale; bsums = sums of each 16 q.
// Inputs are finite with largest magnitude >= ~4e-37 per block (below, iscale overflows, as in
// ggml), or all zero (then the block is all zero bytes).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/quant_blocks.h"
#include "kernels/quant.h"
#include "kernels/vec_dot.h"

namespace tandem {
namespace {

ActQuantizeFn quantizer(Isa isa) { return vec_dot_table(isa).act_quantize[static_cast<size_t>(DType::Q8_K)]; }

std::vector<BlockQ8_K> quantize(Isa isa, const std::vector<float>& x) {
  std::vector<BlockQ8_K> y(x.size() / kQK_K);
  std::memset(y.data(), 0x5a, y.size() * sizeof(BlockQ8_K));  // every byte must be written
  quantizer(isa)(x.data(), y.data(), static_cast<int64_t>(x.size()));
  return y;
}

// Expected block from a sparse list of (index, q); everything else 0; bsums summed here.
BlockQ8_K expected_block(float d, std::initializer_list<std::pair<int, int>> nonzero) {
  BlockQ8_K b;
  std::memset(&b, 0, sizeof b);
  b.d = d;
  for (auto [i, q] : nonzero) {
    b.qs[i] = static_cast<int8_t>(q);
    b.bsums[i / 16] = static_cast<int16_t>(b.bsums[i / 16] + q);
  }
  return b;
}

void expect_block_eq(const BlockQ8_K& got, const BlockQ8_K& want, const char* what) {
  EXPECT_EQ(got.d, want.d) << what;
  for (int i = 0; i < kQK_K; ++i) EXPECT_EQ(got.qs[i], want.qs[i]) << what << " qs[" << i << "]";
  for (int g = 0; g < 16; ++g) EXPECT_EQ(got.bsums[g], want.bsums[g]) << what << " bsums[" << g << "]";
}

// Four blocks worked out by hand:
//   0: max = -127 (x[7], first of |127|; x[200] = +127 comes later) -> iscale = 1, d = 1, q = x
//      rounded half to even: 2.5 -> 2, 3.5 -> 4, -0.5 -> 0, -1.5 -> -2, 126.6 -> 127.
//   1: max = +63.5 (x[0]) -> iscale = -2, d = -0.5, q = -2x: 1.25 -> -2.5 -> -2,
//      0.75 -> -1.5 -> -2, -0.25 -> 0.5 -> 0, -0.75 -> 1.5 -> 2.
//   2: all zero -> all zero bytes.
//   3: x[i] = (i - 128) / 4, max = -32 -> iscale = 127/32, iscale * x = 127 n / 128 (exact) for
//      n = i - 128: |n| < 64 -> n; n = +-64 -> +-63.5 -> +-64 (even); n > 64 -> n - 1;
//      n < -64 -> n + 1.
TEST(VecDotKQuant, HandComputedBlocks) {
  std::vector<float> x(4 * kQK_K, 0.0f);
  float* b0 = x.data();
  b0[3] = 2.0f, b0[7] = -127.0f, b0[200] = 127.0f, b0[20] = 2.5f, b0[21] = 3.5f, b0[22] = -0.5f,
  b0[23] = -1.5f, b0[40] = 126.6f, b0[41] = -126.4f;
  float* b1 = x.data() + kQK_K;
  b1[0] = 63.5f, b1[1] = -63.5f, b1[2] = 1.25f, b1[3] = 0.75f, b1[255] = -0.25f, b1[254] = -0.75f;
  float* b3 = x.data() + 3 * kQK_K;
  for (int i = 0; i < kQK_K; ++i) b3[i] = static_cast<float>(i - 128) * 0.25f;

  const BlockQ8_K want0 = expected_block(
      1.0f, {{3, 2}, {7, -127}, {200, 127}, {20, 2}, {21, 4}, {22, 0}, {23, -2}, {40, 127}, {41, -126}});
  const BlockQ8_K want1 = expected_block(-0.5f, {{0, -127}, {1, 127}, {2, -2}, {3, -2}, {255, 0}, {254, 2}});
  const BlockQ8_K want2 = expected_block(0.0f, {});
  BlockQ8_K want3 = expected_block(32.0f / 127.0f, {});
  for (int i = 0; i < kQK_K; ++i) {
    const int n = i - 128;
    const int q = (n > 64) ? n - 1 : (n < -64) ? n + 1 : n;
    want3.qs[i] = static_cast<int8_t>(q);
    want3.bsums[i / 16] = static_cast<int16_t>(want3.bsums[i / 16] + q);
  }
  ASSERT_EQ(want3.qs[0], -127);
  ASSERT_EQ(want3.qs[64], -64);
  ASSERT_EQ(want3.qs[192], 64);

  for (Isa isa : available_isas()) {
    SCOPED_TRACE(isa_name(isa));
    const auto y = quantize(isa, x);
    expect_block_eq(y[0], want0, "block 0");
    expect_block_eq(y[1], want1, "block 1");
    expect_block_eq(y[2], want2, "block 2 (zeros)");
    expect_block_eq(y[3], want3, "block 3 (ramp)");
  }
}

// Rows with varied magnitudes: normal, heavy outliers, one-sided, exact ties, tiny and huge.
std::vector<float> varied_row(int64_t nb, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(nb * kQK_K));
  for (int64_t b = 0; b < nb; ++b) {
    float* v = x.data() + b * kQK_K;
    const int kind = static_cast<int>((seed + b) % 7);
    const float scale = std::pow(10.0f, static_cast<float>(static_cast<int>(rng() % 61) - 30));
    for (int i = 0; i < kQK_K; ++i) {
      float e = nd(rng);
      switch (kind) {
        case 1: e = (i % 37 == 0) ? 50.0f * e : e; break;             // outliers
        case 2: e = std::fabs(e); break;                               // all positive
        case 3: e = -std::fabs(e); break;                              // all negative
        case 4:  // max = -127 at i = 9, so iscale = 1 and every x.5 is an exact tie
          e = i == 9 ? -127.0f : static_cast<float>(static_cast<int>(rng() % 253) - 126) + 0.5f;
          break;
        case 5: e = (i == 100 || i == 17) ? ((i == 17) ? -3.0f : 3.0f) : 0.01f * e; break;  // +-max
        case 6: e = (rng() % 4 == 0) ? 0.0f : e; break;                // sparse
        default: break;
      }
      v[i] = kind == 4 ? e : e * scale;
    }
  }
  return x;
}

TEST(VecDotKQuant, ReconstructionErrorAndBsums) {
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(isa_name(isa));
    for (uint32_t seed = 0; seed < 40; ++seed) {
      const auto x = varied_row(4, seed);
      const auto y = quantize(isa, x);
      for (size_t b = 0; b < y.size(); ++b) {
        const float d = y[b].d;
        int sums[16] = {};
        for (int i = 0; i < kQK_K; ++i) {
          const double xi = x[b * kQK_K + i], q = y[b].qs[i];
          // |iscale * x - q| <= 1/2, and d = 1 / iscale to within a few float roundings.
          ASSERT_LE(std::fabs(xi - double(d) * q), std::fabs(double(d)) * (0.5 + 3e-5))
              << "seed " << seed << " block " << b << " i " << i;
          ASSERT_GE(y[b].qs[i], -127);
          sums[i / 16] += y[b].qs[i];
        }
        for (int g = 0; g < 16; ++g) ASSERT_EQ(y[b].bsums[g], sums[g]);
      }
    }
  }
}

TEST(VecDotKQuant, EveryIsaByteIdenticalToScalar) {
  for (Isa isa : available_isas()) {
    for (uint32_t seed = 0; seed < 200; ++seed) {
      const int64_t nb = 1 + seed % 5;
      const auto x = varied_row(nb, seed * 3 + 1);
      const auto want = quantize(Isa::Scalar, x);
      const auto got = quantize(isa, x);
      ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(BlockQ8_K)), 0)
          << isa_name(isa) << " seed " << seed;
    }
  }
}

TEST(VecDotKQuant, ScalarMatchesGenericQuantizeRow) {
  for (uint32_t seed = 0; seed < 50; ++seed) {
    const auto x = varied_row(3, seed * 5 + 2);
    const auto want = quantize(Isa::Scalar, x);
    std::vector<BlockQ8_K> got(want.size());
    std::memset(got.data(), 0, got.size() * sizeof(BlockQ8_K));
    quantize_row(DType::Q8_K, x.data(), got.data(), static_cast<int64_t>(x.size()));
    ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(BlockQ8_K)), 0) << "seed " << seed;
  }
}

}  // namespace
}  // namespace tandem
