#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/half.h"

namespace tandem {
namespace {

TEST(DType, TableSizesMatchGgml) {
  EXPECT_EQ(block_size(DType::Q4_K), 256u);
  EXPECT_EQ(block_bytes(DType::Q4_K), 144u);
  EXPECT_EQ(block_bytes(DType::Q6_K), 210u);
  EXPECT_EQ(block_bytes(DType::IQ4_XS), 136u);
  EXPECT_FALSE(is_valid_dtype_id(4));
  EXPECT_FALSE(is_valid_dtype_id(40));
  EXPECT_TRUE(is_valid_dtype_id(30));
  EXPECT_EQ(row_bytes(DType::Q8_0, 4096), 4096u / 32 * 34);
}

TEST(DType, NamesRoundTrip) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.block_size == 0) continue;
    auto t = dtype_from_name(info.name);
    ASSERT_TRUE(t.has_value()) << info.name;
    EXPECT_EQ(*t, info.type);
  }
  EXPECT_EQ(dtype_from_name("Q4_K"), DType::Q4_K);
  EXPECT_FALSE(dtype_from_name("q4_2").has_value());
}

TEST(Half, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(f))));
      continue;
    }
    EXPECT_EQ(fp32_to_fp16(f), h) << "half bits " << h;
  }
}

TEST(Half, RoundsToNearestEven) {
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even (1.0).
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(0x1p-25f), 0x0000);            // tie below the smallest subnormal
  EXPECT_EQ(fp32_to_fp16(0x1p-25f + 0x1p-30f), 0x0001);
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
}

TEST(BFloat16, RoundsToNearestEven) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(bf16_to_fp32(0x4049), std::bit_cast<float>(0x40490000u));
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(std::nanf("")))));
}

}  // namespace
}  // namespace tandem
