// Random weight matrices for kernel tests: random bytes in every block, with each f16 scale
// field (d, and dmin / m where the type has one) set to a small normal value so sums stay finite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/quant_blocks.h"

namespace tandem {

// Random blocks whose every f16 field (at the start of a legacy block, or d/dmin of a K
// block) is a small scale; float types get normal values.
inline std::vector<uint8_t> random_matrix(DType t, int64_t k, int64_t rows, size_t stride, std::mt19937& rng) {
  std::vector<uint8_t> v(stride * static_cast<size_t>(rows));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::uniform_int_distribution<int> byte(0, 255);
  const size_t bb = block_bytes(t);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = v.data() + r * stride;
    for (int64_t b = 0; b < k / block_size(t); ++b) {
      uint8_t* blk = row + b * bb;
      if (t == DType::F32) {
        const float f = dist(rng);
        std::memcpy(blk, &f, 4);
        continue;
      }
      if (t == DType::F16 || t == DType::BF16) {
        const uint16_t h = t == DType::F16 ? to_f16(dist(rng)).bits : to_bf16(dist(rng)).bits;
        std::memcpy(blk, &h, 2);
        continue;
      }
      for (size_t i = 0; i < bb; ++i) blk[i] = static_cast<uint8_t>(byte(rng));
      const f16 d = to_f16(0.01f * dist(rng)), m = to_f16(0.01f * dist(rng));
      size_t d_at = 0, m_at = 2;
      if (t == DType::Q6_K) d_at = offsetof(BlockQ6_K, d);
      std::memcpy(blk + d_at, &d, 2);
      if (t == DType::Q4_1 || t == DType::Q5_1 || t == DType::Q4_K || t == DType::Q5_K)
        std::memcpy(blk + m_at, &m, 2);
    }
  }
  return v;
}

}  // namespace tandem
