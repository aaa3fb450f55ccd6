// The legacy 32-element block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): scalar references,
// bit-compatible with ggml's dequantize_row_* and quantize_row_*_ref.
//
// Quantization rules (per block of 32, element j of the first half and j + 16 of the second
// share byte qs[j]: low nibble, high nibble):
//   Q4_0  m = the value of largest magnitude, d = m / -8, q = min(15, trunc(x / d + 8.5))
//   Q5_0  d = m / -16, q = min(31, trunc(x / d + 16.5)), bit 4 of q_j in bit j of qh
//   Q4_1  d = (max - min) / 15, q = min(15, trunc((x - min) / d + 0.5)), stores d and min
//   Q5_1  d = (max - min) / 31, q = trunc((x - min) / d + 0.5)
//   Q8_0  d = amax / 127, q = roundf(x / d) (half away from zero)
// where "/ d" is a multiply by 1/d (0 when d is 0), as ggml computes it, and the casts to
// integers behave as ggml's do on x86 (trunc_i32, then the low byte for its int8 casts).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/quant_blocks.h"
#include "kernels/quant_impl.h"

namespace tandem {
namespace {

// The value of largest magnitude in x[0..n) (the first one on ties), 0 for an all-zero block.
float signed_absmax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void min_max(const float* x, int n, float& min, float& max) {
  min = FLT_MAX;
  max = -FLT_MAX;
  for (int j = 0; j < n; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
}

// ---- Q4_0 -------------------------------------------------------------------------------
// [n/32] q4_0 -> [n] f32
void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const float d = to_f32(x[b].d);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = static_cast<float>((x[b].qs[j] & 0x0f) - 8) * d;
      dst[j + kQK / 2] = static_cast<float>((x[b].qs[j] >> 4) - 8) * d;
    }
  }
}
// [n] f32 -> [n/32] q4_0
void quantize_row_q4_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, src += kQK) {
    const float d = signed_absmax(src, kQK) / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = to_f16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(15, int{static_cast<int8_t>(trunc_i32(src[j] * id + 8.5f))});
      const int q1 = std::min(15, int{static_cast<int8_t>(trunc_i32(src[j + kQK / 2] * id + 8.5f))});
      y[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// ---- Q4_1 -------------------------------------------------------------------------------
// [n/32] q4_1 -> [n] f32
void dequantize_row_q4_1(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_1*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const float d = to_f32(x[b].d);
    const float m = to_f32(x[b].m);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = static_cast<float>(x[b].qs[j] & 0x0f) * d + m;
      dst[j + kQK / 2] = static_cast<float>(x[b].qs[j] >> 4) * d + m;
    }
  }
}
// [n] f32 -> [n/32] q4_1
void quantize_row_q4_1(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_1*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, src += kQK) {
    float min, max;
    min_max(src, kQK, min, max);
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = to_f16(d);
    y[b].m = to_f16(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(15, int{static_cast<int8_t>(trunc_i32((src[j] - min) * id + 0.5f))});
      const int q1 =
          std::min(15, int{static_cast<int8_t>(trunc_i32((src[j + kQK / 2] - min) * id + 0.5f))});
      y[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// ---- Q5_0 / Q5_1 ------------------------------------------------------------------------
// Bit 4 of element j (0..31) of a 5-bit block.
inline int fifth_bit(uint32_t qh, int j) { return static_cast<int>((qh >> j) & 1u) << 4; }

// [n/32] q5_0 -> [n] f32
void dequantize_row_q5_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ5_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const float d = to_f32(x[b].d);
    uint32_t qh;
    std::memcpy(&qh, x[b].qh, sizeof qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = (x[b].qs[j] & 0x0f) | fifth_bit(qh, j);
      const int q1 = (x[b].qs[j] >> 4) | fifth_bit(qh, j + kQK / 2);
      dst[j] = static_cast<float>(q0 - 16) * d;
      dst[j + kQK / 2] = static_cast<float>(q1 - 16) * d;
    }
  }
}
// Packs 32 5-bit values: low nibbles into qs (j with j + 16), bit 4 of value j into bit j of qh.
void pack_5bit(const int* q, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + kQK / 2] & 0x0f) << 4));
    qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((q[j + kQK / 2] >> 4) & 1) << (j + kQK / 2);
  }
  std::memcpy(qh_bytes, &qh, sizeof qh);
}
// [n] f32 -> [n/32] q5_0
void quantize_row_q5_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, src += kQK) {
    const float d = signed_absmax(src, kQK) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = to_f16(d);
    int q[kQK];
    for (int j = 0; j < kQK; ++j)
      q[j] = std::min(31, int{static_cast<int8_t>(trunc_i32(src[j] * id + 16.5f))});
    pack_5bit(q, y[b].qs, y[b].qh);
  }
}

// [n/32] q5_1 -> [n] f32
void dequantize_row_q5_1(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ5_1*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const float d = to_f32(x[b].d);
    const float m = to_f32(x[b].m);
    uint32_t qh;
    std::memcpy(&qh, x[b].qh, sizeof qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = (x[b].qs[j] & 0x0f) | fifth_bit(qh, j);
      const int q1 = (x[b].qs[j] >> 4) | fifth_bit(qh, j + kQK / 2);
      dst[j] = static_cast<float>(q0) * d + m;
      dst[j + kQK / 2] = static_cast<float>(q1) * d + m;
    }
  }
}
// [n] f32 -> [n/32] q5_1
void quantize_row_q5_1(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_1*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, src += kQK) {
    float min, max;
    min_max(src, kQK, min, max);
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = to_f16(d);
    y[b].m = to_f16(min);
    int q[kQK];
    // ggml stores (uint8_t)(v + 0.5f) unclamped; v <= 31 up to rounding, so the cast keeps 5 bits.
    for (int j = 0; j < kQK; ++j) q[j] = trunc_i32((src[j] - min) * id + 0.5f) & 0xff;
    pack_5bit(q, y[b].qs, y[b].qh);
  }
}

// ---- Q8_0 -------------------------------------------------------------------------------
// [n/32] q8_0 -> [n] f32
void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const float d = to_f32(x[b].d);
    for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(x[b].qs[j]) * d;
  }
}
// [n] f32 -> [n/32] q8_0
void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, src += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(src[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = to_f16(d);
    for (int j = 0; j < kQK; ++j)
      y[b].qs[j] = static_cast<int8_t>(trunc_i32(std::round(src[j] * id)));
  }
}

}  // namespace

void register_quant_legacy(QuantOps& ops) {
  set_quant_ops(ops, DType::Q4_0, dequantize_row_q4_0, quantize_row_q4_0);
  set_quant_ops(ops, DType::Q4_1, dequantize_row_q4_1, quantize_row_q4_1);
  set_quant_ops(ops, DType::Q5_0, dequantize_row_q5_0, quantize_row_q5_0);
  set_quant_ops(ops, DType::Q5_1, dequantize_row_q5_1, quantize_row_q5_1);
  set_quant_ops(ops, DType::Q8_0, dequantize_row_q8_0, quantize_row_q8_0);
}

}  // namespace tandem
