// Quantization block layouts, bit-compatible with the blocks ggml writes into GGUF files.
// Sizes are checked against the dtype table. Scale fields are IEEE halves unless noted.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/half.h"

namespace tandem {

inline constexpr int kQK = 32;    // elements per block of the legacy formats
inline constexpr int kQK_K = 256;  // elements per super-block of the K formats
inline constexpr int kKScaleBytes = 12;  // packed 6-bit scales and mins of Q4_K / Q5_K

// x = d * (q - 8); q in [0, 15]; element j in the low nibble of qs[j], j+16 in the high one.
struct BlockQ4_0 {
  f16 d;
  uint8_t qs[kQK / 2];
};
// x = d * q + m; q in [0, 15]; same nibble order as Q4_0.
struct BlockQ4_1 {
  f16 d;
  f16 m;
  uint8_t qs[kQK / 2];
};
// x = d * (q - 16); q in [0, 31]; the fifth bit of element j is bit j of qh (little endian).
struct BlockQ5_0 {
  f16 d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
// x = d * q + m; q in [0, 31].
struct BlockQ5_1 {
  f16 d;
  f16 m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
// x = d * q; q in [-127, 127].
struct BlockQ8_0 {
  f16 d;
  int8_t qs[kQK];
};
// x = d * q; s = d * sum(q) (an activation format).
struct BlockQ8_1 {
  f16 d;
  f16 s;
  int8_t qs[kQK];
};
// 16 groups of 16: scales[i] low nibble = scale, high nibble = min; x = d*sc*q - dmin*m.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  f16 d;
  f16 dmin;
};
// 16 groups of 16, 6-bit signed scales packed in 12 bytes; 2 low bits in qs, high bit in hmask.
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  f16 d;
};
// 8 groups of 32 with 6-bit scale and min each: x = d*sc*q - dmin*m; q in [0, 15].
struct BlockQ4_K {
  f16 d;
  f16 dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};
// As Q4_K with a fifth bit per element in qh; q in [0, 31].
struct BlockQ5_K {
  f16 d;
  f16 dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
// 16 groups of 16 with int8 scales: x = d * sc * (q - 32); q in [0, 63] (4 low bits in ql,
// 2 high bits in qh).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  f16 d;
};
// Activation format of the K dot products: x = d * q, with sums of each 16 elements.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == block_bytes(DType::Q4_0));
static_assert(sizeof(BlockQ4_1) == block_bytes(DType::Q4_1));
static_assert(sizeof(BlockQ5_0) == block_bytes(DType::Q5_0));
static_assert(sizeof(BlockQ5_1) == block_bytes(DType::Q5_1));
static_assert(sizeof(BlockQ8_0) == block_bytes(DType::Q8_0));
static_assert(sizeof(BlockQ8_1) == block_bytes(DType::Q8_1));
static_assert(sizeof(BlockQ2_K) == block_bytes(DType::Q2_K));
static_assert(sizeof(BlockQ3_K) == block_bytes(DType::Q3_K));
static_assert(sizeof(BlockQ4_K) == block_bytes(DType::Q4_K));
static_assert(sizeof(BlockQ5_K) == block_bytes(DType::Q5_K));
static_assert(sizeof(BlockQ6_K) == block_bytes(DType::Q6_K));
static_assert(sizeof(BlockQ8_K) == block_bytes(DType::Q8_K));

}  // namespace tandem
