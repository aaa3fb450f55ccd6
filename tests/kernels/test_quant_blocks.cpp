// Dequantization of hand-made blocks, with the expected values written from the format
// definitions (not from the implementation), and the by-type entry points' errors.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/quant_blocks.h"
#include "kernels/quant.h"

namespace tandem {
namespace {

template <typename Block>
std::vector<float> dequantize_blocks(DType t, const Block* blocks, int count, Isa isa) {
  std::vector<float> out(static_cast<size_t>(count) * block_size(t));
  quant_ops(isa).dequantize[static_cast<size_t>(t)](blocks, out.data(), static_cast<int64_t>(out.size()));
  return out;
}

class QuantBlocks : public ::testing::TestWithParam<Isa> {};

TEST_P(QuantBlocks, Q4_0NibblesAndScale) {
  BlockQ4_0 b{};
  b.d = to_f16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = dequantize_blocks(DType::Q4_0, &b, 1, GetParam());
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f) << j;            // low nibble: element j
    EXPECT_EQ(y[j + 16], (7 - j) * 0.5f) << j + 16;  // high nibble: element j + 16
  }
}

TEST_P(QuantBlocks, Q4_1ScaleAndMin) {
  BlockQ4_1 b{};
  b.d = to_f16(2.0f);
  b.m = to_f16(-1.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (j << 4));
  const auto y = dequantize_blocks(DType::Q4_1, &b, 1, GetParam());
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 2.0f * j - 1.0f);
    EXPECT_EQ(y[j + 16], 2.0f * j - 1.0f);
  }
}

TEST_P(QuantBlocks, Q5_0FifthBit) {
  BlockQ5_0 b{};
  b.d = to_f16(1.0f);
  std::memset(b.qs, 0x33, sizeof b.qs);  // every low 4 bits = 3
  const uint32_t qh = (1u << 0) | (1u << 5) | (1u << 16) | (1u << 31);
  std::memcpy(b.qh, &qh, 4);
  const auto y = dequantize_blocks(DType::Q5_0, &b, 1, GetParam());
  for (int j = 0; j < 32; ++j) {
    const bool high = (qh >> j) & 1u;
    EXPECT_EQ(y[j], high ? 3.0f : -13.0f) << j;  // (3 | 16) - 16 or 3 - 16
  }
}

TEST_P(QuantBlocks, Q5_1FifthBitAndMin) {
  BlockQ5_1 b{};
  b.d = to_f16(0.25f);
  b.m = to_f16(10.0f);
  std::memset(b.qs, 0xff, sizeof b.qs);
  const uint32_t qh = 0xaaaaaaaau;  // odd elements have bit 4
  std::memcpy(b.qh, &qh, 4);
  const auto y = dequantize_blocks(DType::Q5_1, &b, 1, GetParam());
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (j % 2 ? 31 : 15) * 0.25f + 10.0f) << j;
}

TEST_P(QuantBlocks, Q8_0) {
  BlockQ8_0 b{};
  b.d = to_f16(0.25f);
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 127 + (j == 31 ? 6 : 0));
  const auto y = dequantize_blocks(DType::Q8_0, &b, 1, GetParam());
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], b.qs[j] * 0.25f) << j;
  EXPECT_EQ(y[0], -127 * 0.25f);
  EXPECT_EQ(y[31], 127 * 0.25f);
}

TEST_P(QuantBlocks, Q4_KPackedScalesAndMins) {
  // Eight groups of 32 with 6-bit scales and mins, packed as the format defines: groups 0-3
  // in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); groups 4-7 as a nibble pair in
  // bytes 8-11 plus their top 2 bits in the high bits of bytes 0-3 (scales) and 4-7 (mins).
  const int sc[8] = {1, 2, 3, 4, 33, 40, 63, 17};
  const int mn[8] = {5, 6, 7, 8, 10, 20, 30, 63};
  BlockQ4_K b{};
  b.d = to_f16(1.0f);
  b.dmin = to_f16(0.5f);
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    b.scales[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
    b.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
  std::memset(b.qs, 0x21, sizeof b.qs);  // low nibble 1 (even groups), high nibble 2 (odd)
  const auto y = dequantize_blocks(DType::Q4_K, &b, 1, GetParam());
  for (int e = 0; e < 256; ++e) {
    const int g = e / 32;
    const int q = g % 2 == 0 ? 1 : 2;
    EXPECT_EQ(y[e], 1.0f * sc[g] * q - 0.5f * mn[g]) << "element " << e << " group " << g;
  }
}

TEST_P(QuantBlocks, Q6_KLowAndHighBits) {
  BlockQ6_K b{};
  b.d = to_f16(0.5f);
  for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<int8_t>(g - 8);
  // Element 0: low 4 bits in ql[0] low nibble, high 2 in qh[0] bits 0-1   -> q = 63
  // Element 32: ql[32] low nibble, qh[0] bits 2-3                       -> q = 5 | 16 = 21
  // Element 64: ql[0] high nibble, qh[0] bits 4-5                       -> q = 9 | 32 = 41
  // Element 96: ql[32] high nibble, qh[0] bits 6-7                      -> q = 0
  // Element 128: the second half's ql[64] low nibble, qh[32] bits 0-1   -> q = 7 | 48 = 55
  b.ql[0] = 0x9f;
  b.ql[32] = 0x05;
  b.qh[0] = 0x03 | (0x01 << 2) | (0x02 << 4);
  b.ql[64] = 0x07;
  b.qh[32] = 0x03;
  const auto y = dequantize_blocks(DType::Q6_K, &b, 1, GetParam());
  const auto expect = [](int scale, int q) { return 0.5f * scale * (q - 32); };
  EXPECT_EQ(y[0], expect(-8, 63));    // group 0
  EXPECT_EQ(y[32], expect(-6, 21));   // group 2
  EXPECT_EQ(y[64], expect(-4, 41));   // group 4
  EXPECT_EQ(y[96], expect(-2, 0));    // group 6
  EXPECT_EQ(y[128], expect(0, 55));   // group 8: scale 0
  EXPECT_EQ(y[17], expect(-7, 0));    // group 1, all bits zero
  EXPECT_EQ(y[255], expect(7, 0));    // group 15
}

TEST_P(QuantBlocks, Q8_K) {
  BlockQ8_K b{};
  b.d = 0.125f;
  for (int j = 0; j < 256; ++j) b.qs[j] = static_cast<int8_t>(j - 128);
  const auto y = dequantize_blocks(DType::Q8_K, &b, 1, GetParam());
  for (int j = 0; j < 256; ++j) EXPECT_EQ(y[j], (j - 128) * 0.125f);
}

TEST_P(QuantBlocks, Q2_KTwoBitPlanes) {
  BlockQ2_K b{};
  b.d = to_f16(1.0f);
  b.dmin = to_f16(0.5f);
  for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<uint8_t>((g % 16) | ((15 - g) << 4));
  std::memset(b.qs, 0xe4, sizeof b.qs);  // bit pairs 0,1,2,3 from the low end
  const auto y = dequantize_blocks(DType::Q2_K, &b, 1, GetParam());
  for (int e = 0; e < 256; ++e) {
    const int g = e / 16;
    const int q = (e % 128) / 32;  // 32 elements per bit pair within each 128
    EXPECT_EQ(y[e], 1.0f * g * q - 0.5f * (15 - g)) << e;
  }
}

TEST_P(QuantBlocks, Q3_KHighBitMask) {
  BlockQ3_K b{};
  b.d = to_f16(1.0f);
  // All scale bits zero: every 6-bit scale is 0, i.e. -32. Elements whose hmask bit is set
  // keep q; the others are q - 4. qs bit pairs 0,1,2,3 -> q = 0..3 per 32 within each 128.
  std::memset(b.qs, 0xe4, sizeof b.qs);
  std::memset(b.hmask, 0x0f, sizeof b.hmask);  // bits 0-3: elements 0-127
  const auto y = dequantize_blocks(DType::Q3_K, &b, 1, GetParam());
  for (int e = 0; e < 256; ++e) {
    const int q = (e % 128) / 32 - (e < 128 ? 0 : 4);
    EXPECT_EQ(y[e], -32.0f * q) << e;
  }
}

INSTANTIATE_TEST_SUITE_P(Quant, QuantBlocks, ::testing::ValuesIn(available_isas()),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

TEST(QuantApi, UnsupportedTypesThrowInputError) {
  std::vector<uint8_t> bytes(1024);
  std::vector<float> f(256);
  EXPECT_THROW(dequantize_row(DType::IQ2_XXS, bytes.data(), f.data(), 256), InputError);
  EXPECT_THROW(quantize_row(DType::IQ4_NL, f.data(), bytes.data(), 32), InputError);
  EXPECT_THROW(quantize_row(DType::Removed4, f.data(), bytes.data(), 32), InputError);
  EXPECT_THROW(dequantize_row(static_cast<DType>(200), bytes.data(), f.data(), 32), InputError);
  EXPECT_THROW(quantize_row(DType::Q4_K, f.data(), bytes.data(), 100), InputError);  // not x256
  try {
    dequantize_row(DType::IQ2_XXS, bytes.data(), f.data(), 256);
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("iq2_xxs"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(can_quantize(DType::IQ4_XS));
  EXPECT_TRUE(can_dequantize(DType::IQ4_XS));
  EXPECT_FALSE(can_dequantize(DType::TQ1_0));
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1,
                  DType::Q5_0, DType::Q5_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K,
                  DType::Q6_K, DType::Q8_K}) {
    EXPECT_TRUE(can_quantize(t)) << dtype_name(t);
    EXPECT_TRUE(can_dequantize(t)) << dtype_name(t);
  }
}

TEST(QuantApi, RowEntryPointsRoundTrip) {
  std::vector<float> x(64), y(64);
  for (int i = 0; i < 64; ++i) x[i] = static_cast<float>(i % 9) - 4.0f;
  std::vector<uint8_t> q(row_bytes(DType::Q8_0, 64));
  quantize_row(DType::Q8_0, x.data(), q.data(), 64);
  dequantize_row(DType::Q8_0, q.data(), y.data(), 64);
  for (int i = 0; i < 64; ++i) EXPECT_NEAR(y[i], x[i], 4.0f / 127);
}

}  // namespace
}  // namespace tandem
