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

// Throw InputError naming the type when it is not supported (e.g. an IQ type).
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
void quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace tandem
