// The 256-element K formats Q4_K, Q5_K, Q6_K and the Q8_K activation format: scalar
// references, bit-compatible with ggml's dequantize_row_* and quantize_row_*_ref (the search
// llama.cpp runs without an importance matrix: make_qkx2_quants for Q4_K / Q5_K, make_qx_quants
// for Q6_K, with their constants).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/quant_blocks.h"
#include "kernels/quant_impl.h"

namespace tandem {

float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float& min_out, uint8_t* laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    min_out = -min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  if (nstep < 1) {
    min_out = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
      laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      const float fl = static_cast<float>(l);
      sum_l += w * fl;
      sum_l2 += w * fl * fl;
      sum_xl += w * fl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        std::copy(laux, laux + n, L);
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  min_out = -min;
  return scale;
}

float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < 1e-15f) {  // ggml's GROUP_MAX_EPS: an all-zero group
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const auto level = [nmax](float v) { return std::max(-nmax, std::min(nmax - 1, nearest_int(v))); };
  float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = level(iscale * x[i]);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    const float fl = static_cast<float>(l);
    sumlx += w * x[i] * fl;
    suml2 += w * fl * fl;
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const float fl = static_cast<float>(level(iscale * x[i]));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * fl;
      suml2 += w * fl * fl;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + level(iscale * x[i]));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

namespace {

// Q4_K and Q5_K share the scale search: eight groups of 32 with weights av_x + |x|
// (av_x = RMS of the group), then 6-bit scales and mins relative to the largest of each.
// Writes d, dmin, the 12 packed scale bytes and the levels L[256] (0..nmax).
template <typename Block>
void k_scales_and_levels(const float* x, Block& y, uint8_t* L, int nmax, float rmin, int nstep) {
  float scales[kQK_K / 32], mins[kQK_K / 32];
  float weights[32];
  uint8_t laux[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < kQK_K / 32; ++j) {
    const float* xg = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xg[l] * xg[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xg[l]);
    scales[j] = make_qkx2_quants(32, nmax, xg, weights, L + 32 * j, mins[j], laux, rmin, 0.1f,
                                 nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < kQK_K / 32; ++j) {
    // nearest_int lands in [0, 63] up to rounding; ggml keeps the low byte, then clamps.
    const uint8_t ls = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    const uint8_t lm = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    if (j < 4) {
      y.scales[j] = ls;
      y.scales[j + 4] = lm;
    } else {
      y.scales[j + 4] = static_cast<uint8_t>((ls & 0x0f) | ((lm & 0x0f) << 4));
      y.scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      y.scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  y.d = to_f16(max_scale / 63.f);
  y.dmin = to_f16(max_min / 63.f);
  // Requantize each group against the rounded scales (groups whose scale rounds to 0 keep
  // the search's levels, as in ggml).
  for (int j = 0; j < kQK_K / 32; ++j) {
    uint8_t sc, m;
    k_scale_min(j, y.scales, sc, m);
    const float d = to_f32(y.d) * sc;
    if (d == 0.0f) continue;
    const float dm = to_f32(y.dmin) * m;
    for (int i = 0; i < 32; ++i) {
      const int l = nearest_int((x[32 * j + i] + dm) / d);
      L[32 * j + i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    }
  }
}

// ---- Q4_K -------------------------------------------------------------------------------
// [n/256] q4_K -> [n] f32. 64 elements per 32 bytes of qs: low nibbles group 2k, high 2k+1.
void dequantize_row_q4_K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = to_f32(x[b].d);
    const float dmin = to_f32(x[b].dmin);
    const uint8_t* q = x[b].qs;
    for (int g = 0; g < kQK_K / 32; g += 2, q += 32) {
      uint8_t sc, m;
      k_scale_min(g, x[b].scales, sc, m);
      const float d1 = d * sc, m1 = dmin * m;
      k_scale_min(g + 1, x[b].scales, sc, m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *dst++ = d1 * static_cast<float>(q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) *dst++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}
// [n] f32 -> [n/256] q4_K
void quantize_row_q4_K(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, src += kQK_K) {
    uint8_t L[kQK_K];
    std::memset(y[b].scales, 0, sizeof y[b].scales);
    k_scales_and_levels(src, y[b], L, 15, -1.0f, 20);
    uint8_t* q = y[b].qs;
    for (int j = 0; j < kQK_K; j += 64, q += 32)
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
  }
}

// ---- Q5_K -------------------------------------------------------------------------------
// [n/256] q5_K -> [n] f32. As Q4_K; bit 4 of element l of group g is bit g of qh[l].
void dequantize_row_q5_K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ5_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = to_f32(x[b].d);
    const float dmin = to_f32(x[b].dmin);
    const uint8_t* ql = x[b].qs;
    const uint8_t* qh = x[b].qh;
    for (int g = 0; g < kQK_K / 32; g += 2, ql += 32) {
      uint8_t sc, m;
      k_scale_min(g, x[b].scales, sc, m);
      const float d1 = d * sc, m1 = dmin * m;
      k_scale_min(g + 1, x[b].scales, sc, m);
      const float d2 = d * sc, m2 = dmin * m;
      const uint8_t u1 = static_cast<uint8_t>(1u << g), u2 = static_cast<uint8_t>(2u << g);
      for (int l = 0; l < 32; ++l)
        *dst++ = d1 * static_cast<float>((ql[l] & 0x0f) + ((qh[l] & u1) ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l)
        *dst++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
    }
  }
}
// [n] f32 -> [n/256] q5_K
void quantize_row_q5_K(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, src += kQK_K) {
    uint8_t L[kQK_K];
    std::memset(y[b].scales, 0, sizeof y[b].scales);
    k_scales_and_levels(src, y[b], L, 31, -0.5f, 15);
    uint8_t* qh = y[b].qh;
    uint8_t* ql = y[b].qs;
    std::memset(qh, 0, kQK_K / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int j = 0; j < kQK_K; j += 64, ql += 32) {
      for (int l = 0; l < 32; ++l) {
        int l1 = L[j + l], l2 = L[j + l + 32];
        if (l1 > 15) {
          l1 -= 16;
          qh[l] |= m1;
        }
        if (l2 > 15) {
          l2 -= 16;
          qh[l] |= m2;
        }
        ql[l] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
      m1 = static_cast<uint8_t>(m1 << 2);
      m2 = static_cast<uint8_t>(m2 << 2);
    }
  }
}

// ---- Q6_K -------------------------------------------------------------------------------
// [n/256] q6_K -> [n] f32. Per 128 elements: ql 64 bytes (low nibbles of 0-31 and 32-63,
// high nibbles of 64-95 and 96-127), qh 32 bytes (2 bits each of the four quarters), 8 scales.
void dequantize_row_q6_K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ6_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = to_f32(x[b].d);
    const uint8_t* ql = x[b].ql;
    const uint8_t* qh = x[b].qh;
    const int8_t* sc = x[b].scales;
    for (int half = 0; half < 2; ++half, dst += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        dst[l] = d * sc[is + 0] * static_cast<float>(q1);
        dst[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
        dst[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
        dst[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
      }
    }
  }
}
// [n] f32 -> [n/256] q6_K
void quantize_row_q6_K(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ6_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, src += kQK_K) {
    int8_t L[kQK_K];
    float scales[kQK_K / 16];
    float max_scale = 0, max_abs_scale = 0;
    for (int g = 0; g < kQK_K / 16; ++g) {
      scales[g] = make_qx_quants(16, 32, src + 16 * g, L + 16 * g);
      const float abs_scale = std::fabs(scales[g]);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scales[g];
      }
    }
    if (max_abs_scale < 1e-15f) {  // an all-zero super-block
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[b].d = to_f16(1 / iscale);
    for (int g = 0; g < kQK_K / 16; ++g)
      y[b].scales[g] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[g])));
    for (int g = 0; g < kQK_K / 16; ++g) {
      const float d = to_f32(y[b].d) * y[b].scales[g];
      if (d == 0.0f) continue;
      for (int i = 0; i < 16; ++i) {
        const int l = nearest_int(src[16 * g + i] / d);
        L[16 * g + i] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
      }
    }
    uint8_t* ql = y[b].ql;
    uint8_t* qh = y[b].qh;
    for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
        ql[l] = static_cast<uint8_t>((q1 & 0x0f) | ((q3 & 0x0f) << 4));
        ql[l + 32] = static_cast<uint8_t>((q2 & 0x0f) | ((q4 & 0x0f) << 4));
        qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) |
                                     ((q4 >> 4) << 6));
      }
    }
  }
}

// ---- Q8_K -------------------------------------------------------------------------------
// [n/256] q8_K -> [n] f32
void dequantize_row_q8_K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ8_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b)
    for (int j = 0; j < kQK_K; ++j) *dst++ = x[b].d * static_cast<float>(x[b].qs[j]);
}
// [n] f32 -> [n/256] q8_K: d = max / -127 of the signed largest value, q = min(127, round(x/d))
// (ties to even), bsums = sums of each 16 q. An all-zero block is all zeros.
void quantize_row_q8_K(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, src += kQK_K) {
    float max = 0, amax = 0;
    for (int j = 0; j < kQK_K; ++j) {
      const float ax = std::fabs(src[j]);
      if (ax > amax) {
        amax = ax;
        max = src[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kQK_K; ++j)
      y[b].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * src[j])));
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += y[b].qs[16 * g + i];
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
    y[b].d = 1 / iscale;
  }
}

}  // namespace

void register_quant_k(QuantOps& ops) {
  set_quant_ops(ops, DType::Q4_K, dequantize_row_q4_K, quantize_row_q4_K);
  set_quant_ops(ops, DType::Q5_K, dequantize_row_q5_K, quantize_row_q5_K);
  set_quant_ops(ops, DType::Q6_K, dequantize_row_q6_K, quantize_row_q6_K);
  set_quant_ops(ops, DType::Q8_K, dequantize_row_q8_K, quantize_row_q8_K);
}

}  // namespace tandem
