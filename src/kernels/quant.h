// Conversion between f32 and every storage format we compute with: dequantize a row of blocks
// to f32 and quantize f32 to blocks, bit-compatible with ggml (same block layouts, same
// rounding as llama.cpp's reference quantizers).
#pragma once

#include <array>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/isa.h"

namespace tandem {

// n is a multiple of block_size(type); src/dst hold n / block_size(type) blocks.
using DequantizeFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeFn = void (*)(const float* src, void* dst, int64_t n);

struct QuantOps {
  std::array<DequantizeFn, static_cast<size_t>(DType::Count)> dequantize{};  // null: unsupported
  std::array<QuantizeFn, static_cast<size_t>(DType::Count)> quantize{};
};

// The table for one ISA level (entries the level has no variant for fall back to the level
// below). Tests compare each level's entries with quant_ops(Isa::Scalar).
const QuantOps& quant_ops(Isa isa);
inline const QuantOps& quant_ops() { return quant_ops(active_isa()); }

bool can_dequantize(DType t);
bool can_quantize(DType t);

// Supported: quantize and dequantize F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K, Q8_K (bytes identical to ggml_quantize_chunk without an importance
// matrix); dequantize also IQ4_NL and IQ4_XS. Tested against tests/data/ggml.
// Throw InputError naming the type when it is not supported (e.g. IQ2_XXS), or when n is not
// a multiple of its block size.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
void quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace tandem
