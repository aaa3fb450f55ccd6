// Every ISA level's quantization table against the scalar reference: random lengths (block
// multiples from 1 block to many, odd counts, and any length for the element formats), inputs
// with zeros, subnormals, outliers, infinities and NaN. Every variant is exact, so outputs are
// compared bit for bit (quantized bytes and dequantized floats alike).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/quant_blocks.h"
#include "kernels/quant.h"

namespace tandem {
namespace {

// Random f32 with the awkward cases mixed in: per 32-element stretch a regime (normal, all
// zero, subnormal, huge, mixed magnitudes), plus scattered specials when allow_special.
std::vector<float> awkward_floats(int64_t n, std::mt19937& rng, bool allow_special) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 9);
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; i += 32) {
    const int regime = pick(rng);
    for (int64_t j = i; j < std::min(n, i + 32); ++j) {
      float v = g(rng);
      if (regime == 0) v = 0.0f;
      if (regime == 1) v *= 1e-40f;  // subnormal
      if (regime == 2) v *= 3e4f;
      if (regime == 3) v = std::ldexp(v, static_cast<int>(j % 40) - 20);
      if (regime == 4) v = std::round(v * 4) / 4;  // rounding ties
      x[j] = v;
    }
  }
  if (allow_special && n > 8) {
    const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                              -std::numeric_limits<float>::infinity(),
                              std::numeric_limits<float>::infinity(), -0.0f, 65520.0f, 65519.0f,
                              -1e-45f, std::bit_cast<float>(0x7fa00001u) /* signalling NaN */};
    for (float s : specials) x[std::uniform_int_distribution<int64_t>(0, n - 1)(rng)] = s;
  }
  return x;
}

// Random blocks of type t: random bytes, with every f16 scale field finite (the formats
// store scales as halves; an inf scale makes inf * 0 = NaN, whose sign is not defined).
std::vector<uint8_t> random_blocks(DType t, int64_t nblocks, std::mt19937& rng) {
  std::vector<uint8_t> bytes(static_cast<size_t>(nblocks) * block_bytes(t));
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  std::vector<size_t> half_offsets;
  switch (t) {
    case DType::F16: half_offsets = {0}; break;  // every element: no NaN (F16C quiets sNaN)
    case DType::Q8_0: case DType::Q4_0: case DType::Q5_0: case DType::IQ4_NL:
    case DType::IQ4_XS: half_offsets = {0}; break;
    case DType::Q4_1: case DType::Q5_1: case DType::Q4_K: case DType::Q5_K: half_offsets = {0, 2}; break;
    case DType::Q2_K: half_offsets = {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)}; break;
    case DType::Q3_K: half_offsets = {offsetof(BlockQ3_K, d)}; break;
    case DType::Q6_K: half_offsets = {offsetof(BlockQ6_K, d)}; break;
    default: break;
  }
  for (int64_t b = 0; b < nblocks; ++b) {
    uint8_t* blk = bytes.data() + b * block_bytes(t);
    for (size_t off : half_offsets) {
      uint16_t h;
      std::memcpy(&h, blk + off, 2);
      if ((h & 0x7c00u) == 0x7c00u) h &= 0xbfffu;  // exponent 31 -> 15: finite
      std::memcpy(blk + off, &h, 2);
    }
    if (t == DType::Q8_K) {
      const float d = std::ldexp(static_cast<float>(rng() % 1000) - 500.0f, -12);
      std::memcpy(blk, &d, 4);
    }
  }
  return bytes;
}

std::vector<int64_t> block_counts(std::mt19937& rng) {
  std::vector<int64_t> counts = {1, 2, 3, 7, 16, 33};
  for (int k = 0; k < 4; ++k) counts.push_back(1 + static_cast<int64_t>(rng() % 97));
  return counts;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b, int64_t& at) {
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], 4) != 0) {
      at = static_cast<int64_t>(i);
      return false;
    }
  return true;
}

class QuantIsa : public ::testing::TestWithParam<Isa> {};

TEST_P(QuantIsa, DequantizeMatchesScalarBitForBit) {
  const auto& ref = quant_ops(Isa::Scalar);
  const auto& ops = quant_ops(GetParam());
  std::mt19937 rng(1234);
  int types = 0;
  for (size_t ti = 0; ti < static_cast<size_t>(DType::Count); ++ti) {
    const auto t = static_cast<DType>(ti);
    if (ref.dequantize[ti] == nullptr) {
      EXPECT_EQ(ops.dequantize[ti], nullptr) << dtype_name(t);
      continue;
    }
    ASSERT_NE(ops.dequantize[ti], nullptr) << dtype_name(t);
    ++types;
    for (int64_t count : block_counts(rng)) {
      // Element formats: any length, not only multiples of the SIMD width.
      const int64_t nblocks = block_size(t) == 1 ? count * 5 + 3 : count;
      const auto bytes = random_blocks(t, nblocks, rng);
      const int64_t n = nblocks * block_size(t);
      std::vector<float> want(n), got(n, -1.0f);
      ref.dequantize[ti](bytes.data(), want.data(), n);
      ops.dequantize[ti](bytes.data(), got.data(), n);
      int64_t at = -1;
      EXPECT_TRUE(same_bits(got, want, at))
          << dtype_name(t) << " n=" << n << " element " << at << ": " << got[at] << " vs " << want[at];
    }
  }
  EXPECT_EQ(types, 16);
}

TEST_P(QuantIsa, QuantizeMatchesScalarByteForByte) {
  const auto& ref = quant_ops(Isa::Scalar);
  const auto& ops = quant_ops(GetParam());
  std::mt19937 rng(99);
  int types = 0;
  for (size_t ti = 0; ti < static_cast<size_t>(DType::Count); ++ti) {
    const auto t = static_cast<DType>(ti);
    if (ref.quantize[ti] == nullptr) {
      EXPECT_EQ(ops.quantize[ti], nullptr) << dtype_name(t);
      continue;
    }
    ASSERT_NE(ops.quantize[ti], nullptr) << dtype_name(t);
    ++types;
    // NaN and inf only for the element formats: ggml's block quantizers have no defined
    // answer for them (nearest_int asserts finite input).
    const bool special = block_size(t) == 1;
    for (int64_t count : block_counts(rng)) {
      const int64_t n = (block_size(t) == 1 ? count * 5 + 3 : count) * block_size(t);
      const auto x = awkward_floats(n, rng, special);
      std::vector<uint8_t> want(row_bytes(t, n), 0x5a), got(row_bytes(t, n), 0xa5);
      ref.quantize[ti](x.data(), want.data(), n);
      ops.quantize[ti](x.data(), got.data(), n);
      size_t at = 0;
      while (at < want.size() && want[at] == got[at]) ++at;
      EXPECT_EQ(at, want.size()) << dtype_name(t) << " n=" << n << ": first differing byte " << at
                                 << " (block " << at / block_bytes(t) << ")";
    }
  }
  EXPECT_EQ(types, 14);
}

INSTANTIATE_TEST_SUITE_P(Quant, QuantIsa, ::testing::ValuesIn(available_isas()),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace tandem
