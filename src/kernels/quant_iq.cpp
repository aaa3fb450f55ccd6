// The non-linear 4-bit formats IQ4_NL and IQ4_XS: dequantization only (files quantized by
// llama.cpp use them; producing them needs its importance-weighted search). Bit-compatible
// with ggml's dequantize_row_iq4_nl / dequantize_row_iq4_xs.
#include <cstdint>

#include "core/half.h"
#include "core/quant_blocks.h"
#include "kernels/quant_impl.h"

namespace tandem {
namespace {

// The 16 levels both formats index with a nibble (ggml's kvalues_iq4nl).
constexpr int8_t kIq4Levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                   1,    13,   25,  38,  53,  69,  89,  113};

// x = d * level[q]; element j in the low nibble of qs[j], j + 16 in the high one.
struct BlockIQ4_NL {
  f16 d;
  uint8_t qs[kQK / 2];
};
// 8 groups of 32 with a 6-bit scale each (low nibble in scales_l, 2 high bits in scales_h):
// x = d * (ls - 32) * level[q].
struct BlockIQ4_XS {
  f16 d;
  uint16_t scales_h;
  uint8_t scales_l[kQK_K / 64];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockIQ4_NL) == block_bytes(DType::IQ4_NL));
static_assert(sizeof(BlockIQ4_XS) == block_bytes(DType::IQ4_XS));

// [n/32] iq4_nl -> [n] f32
void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const float d = to_f32(x[b].d);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = d * static_cast<float>(kIq4Levels[x[b].qs[j] & 0x0f]);
      dst[j + kQK / 2] = d * static_cast<float>(kIq4Levels[x[b].qs[j] >> 4]);
    }
  }
}

// [n/256] iq4_xs -> [n] f32
void dequantize_row_iq4_xs(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockIQ4_XS*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = to_f32(x[b].d);
    const uint8_t* qs = x[b].qs;
    for (int g = 0; g < kQK_K / 32; ++g, qs += 16, dst += 32) {
      const int ls = ((x[b].scales_l[g / 2] >> (4 * (g % 2))) & 0x0f) |
                     (((x[b].scales_h >> (2 * g)) & 3) << 4);
      const float dl = d * static_cast<float>(ls - 32);
      for (int j = 0; j < 16; ++j) {
        dst[j] = dl * static_cast<float>(kIq4Levels[qs[j] & 0x0f]);
        dst[j + 16] = dl * static_cast<float>(kIq4Levels[qs[j] >> 4]);
      }
    }
  }
}

}  // namespace

void register_quant_iq(QuantOps& ops) {
  set_quant_ops(ops, DType::IQ4_NL, dequantize_row_iq4_nl, nullptr);
  set_quant_ops(ops, DType::IQ4_XS, dequantize_row_iq4_xs, nullptr);
}

}  // namespace tandem
