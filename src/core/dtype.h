// Element and quantization-block types. The numeric values are the ggml type ids that GGUF
// files store, so a file's type field maps to DType without a translation table. Ids that ggml
// has retired (4, 5, 31-33, 36-38) stay in the table as invalid entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tandem {

enum class DType : uint8_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Removed4 = 4,  // was Q4_2
  Removed5 = 5,  // was Q4_3
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  Removed31 = 31,  // was Q4_0_4_4
  Removed32 = 32,  // was Q4_0_4_8
  Removed33 = 33,  // was Q4_0_8_8
  TQ1_0 = 34,
  TQ2_0 = 35,
  Removed36 = 36,  // was IQ4_NL_4_4
  Removed37 = 37,  // was IQ4_NL_4_8
  Removed38 = 38,  // was IQ4_NL_8_8
  MXFP4 = 39,
  Count
};

struct DTypeInfo {
  DType type;
  std::string_view name;  // as llama.cpp prints it ("q4_K", "f16")
  uint32_t block_size;    // elements per block; 0 for a retired id
  uint32_t block_bytes;   // bytes per block
  bool quantized;
};

inline constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "f32", 1, 4, false},
    {DType::F16, "f16", 1, 2, false},
    {DType::Q4_0, "q4_0", 32, 18, true},
    {DType::Q4_1, "q4_1", 32, 20, true},
    {DType::Removed4, "removed(4)", 0, 0, false},
    {DType::Removed5, "removed(5)", 0, 0, false},
    {DType::Q5_0, "q5_0", 32, 22, true},
    {DType::Q5_1, "q5_1", 32, 24, true},
    {DType::Q8_0, "q8_0", 32, 34, true},
    {DType::Q8_1, "q8_1", 32, 36, true},
    {DType::Q2_K, "q2_K", 256, 84, true},
    {DType::Q3_K, "q3_K", 256, 110, true},
    {DType::Q4_K, "q4_K", 256, 144, true},
    {DType::Q5_K, "q5_K", 256, 176, true},
    {DType::Q6_K, "q6_K", 256, 210, true},
    {DType::Q8_K, "q8_K", 256, 292, true},
    {DType::IQ2_XXS, "iq2_xxs", 256, 66, true},
    {DType::IQ2_XS, "iq2_xs", 256, 74, true},
    {DType::IQ3_XXS, "iq3_xxs", 256, 98, true},
    {DType::IQ1_S, "iq1_s", 256, 50, true},
    {DType::IQ4_NL, "iq4_nl", 32, 18, true},
    {DType::IQ3_S, "iq3_s", 256, 110, true},
    {DType::IQ2_S, "iq2_s", 256, 82, true},
    {DType::IQ4_XS, "iq4_xs", 256, 136, true},
    {DType::I8, "i8", 1, 1, false},
    {DType::I16, "i16", 1, 2, false},
    {DType::I32, "i32", 1, 4, false},
    {DType::I64, "i64", 1, 8, false},
    {DType::F64, "f64", 1, 8, false},
    {DType::IQ1_M, "iq1_m", 256, 56, true},
    {DType::BF16, "bf16", 1, 2, false},
    {DType::Removed31, "removed(31)", 0, 0, false},
    {DType::Removed32, "removed(32)", 0, 0, false},
    {DType::Removed33, "removed(33)", 0, 0, false},
    {DType::TQ1_0, "tq1_0", 256, 54, true},
    {DType::TQ2_0, "tq2_0", 256, 66, true},
    {DType::Removed36, "removed(36)", 0, 0, false},
    {DType::Removed37, "removed(37)", 0, 0, false},
    {DType::Removed38, "removed(38)", 0, 0, false},
    {DType::MXFP4, "mxfp4", 32, 17, true},
};
static_assert(std::size(kDTypes) == static_cast<size_t>(DType::Count));

constexpr bool kDTypeTableInOrder() {
  for (size_t i = 0; i < std::size(kDTypes); ++i)
    if (static_cast<size_t>(kDTypes[i].type) != i) return false;
  return true;
}
static_assert(kDTypeTableInOrder(), "kDTypes must be indexed by DType value");

constexpr const DTypeInfo& dtype_info(DType t) { return kDTypes[static_cast<size_t>(t)]; }
constexpr std::string_view dtype_name(DType t) { return dtype_info(t).name; }
constexpr uint32_t block_size(DType t) { return dtype_info(t).block_size; }
constexpr uint32_t block_bytes(DType t) { return dtype_info(t).block_bytes; }
constexpr bool is_quantized(DType t) { return dtype_info(t).quantized; }

// A GGUF type id that names a type we can at least size (not retired, not out of range).
constexpr bool is_valid_dtype_id(uint32_t id) {
  return id < static_cast<uint32_t>(DType::Count) && kDTypes[id].block_size != 0;
}

// Bytes of one row of `n` elements; n must be a multiple of the block size.
constexpr size_t row_bytes(DType t, int64_t n) {
  return static_cast<size_t>(n / block_size(t)) * block_bytes(t);
}

// Parses a name as printed by dtype_name ("q4_K" or "Q4_K", case-insensitive).
std::optional<DType> dtype_from_name(std::string_view name);

}  // namespace tandem
