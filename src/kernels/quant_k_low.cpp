// The low-bit K formats Q2_K and Q3_K: scalar references, bit-compatible with ggml's
// dequantize_row_* and quantize_row_*_ref (Q2_K: make_qkx2_quants per 16 with |x| weights and
// mean-absolute error; Q3_K: make_q3_quants, an x^2-weighted iterative refinement).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/quant_blocks.h"
#include "kernels/quant_impl.h"

namespace tandem {
namespace {

// Packs 256 2-bit levels: per 128 elements, byte l of 32 holds elements l, l+32, l+64, l+96
// in bits 0-1, 2-3, 4-5, 6-7.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kQK_K; j += 128)
    for (int l = 0; l < 32; ++l)
      qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) |
                                           (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

// ---- Q2_K -------------------------------------------------------------------------------
// [n/256] q2_K -> [n] f32: x = d * (sc & 15) * q - dmin * (sc >> 4), 16 groups of 16.
void dequantize_row_q2_K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ2_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = to_f32(x[b].d);
    const float dmin = to_f32(x[b].dmin);
    const uint8_t* q = x[b].qs;
    int is = 0;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part) {
          const uint8_t sc = x[b].scales[is++];
          const float dl = d * static_cast<float>(sc & 0x0f);
          const float ml = dmin * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l)
            *dst++ = dl * static_cast<float>((q[l + 16 * part] >> shift) & 3) - ml;
        }
      }
    }
  }
}
// [n] f32 -> [n/256] q2_K
void quantize_row_q2_K(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ2_K*>(dst);
  constexpr float kQ4Scale = 15.f;
  for (int64_t b = 0; b < n / kQK_K; ++b, src += kQK_K) {
    uint8_t L[kQK_K], laux[16];
    float weights[16], mins[kQK_K / 16], scales[kQK_K / 16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kQK_K / 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(src[16 * j + l]);
      scales[j] = make_qkx2_quants(16, 3, src + 16 * j, weights, L + 16 * j, mins[j], laux,
                                   -0.5f, 0.1f, 15, true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
      const float iscale = kQ4Scale / max_scale;
      for (int j = 0; j < kQK_K / 16; ++j)
        y[b].scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
      y[b].d = to_f16(max_scale / kQ4Scale);
    } else {
      std::memset(y[b].scales, 0, sizeof y[b].scales);
      y[b].d = to_f16(0.f);
    }
    if (max_min > 0) {
      const float iscale = kQ4Scale / max_min;
      for (int j = 0; j < kQK_K / 16; ++j)
        y[b].scales[j] |= static_cast<uint8_t>(nearest_int(iscale * mins[j]) << 4);
      y[b].dmin = to_f16(max_min / kQ4Scale);
    } else {
      y[b].dmin = to_f16(0.f);
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = to_f32(y[b].d) * static_cast<float>(y[b].scales[j] & 0x0f);
      if (d == 0.0f) continue;
      const float dm = to_f32(y[b].dmin) * static_cast<float>(y[b].scales[j] >> 4);
      for (int i = 0; i < 16; ++i) {
        const int l = nearest_int((src[16 * j + i] + dm) / d);
        L[16 * j + i] = static_cast<uint8_t>(std::max(0, std::min(3, l)));
      }
    }
    pack_2bit(L, y[b].qs);
  }
}

// ---- Q3_K -------------------------------------------------------------------------------
// The 16 signed 6-bit scales (sc - 32) of a Q3_K block: low nibbles in bytes 0-7 (groups 0-7
// low, 8-15 high), the top two bits of group j in bits 2*(j/4) of byte 8 + j%4.
void q3_k_scales(const uint8_t* packed, int* out) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (packed[j] & 0x0f) : (packed[j - 8] >> 4);
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    out[j] = (low | (high << 4)) - 32;
  }
}

// [n/256] q3_K -> [n] f32: x = d * sc * (q - (high bit clear ? 4 : 0)), q the two low bits.
void dequantize_row_q3_K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ3_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d_all = to_f32(x[b].d);
    int scales[16];
    q3_k_scales(x[b].scales, scales);
    const uint8_t* q = x[b].qs;
    const uint8_t* hm = x[b].hmask;
    uint8_t m = 1;
    int is = 0;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
        for (int part = 0; part < 2; ++part) {
          const float dl = d_all * static_cast<float>(scales[is++]);
          for (int l = 16 * part; l < 16 * part + 16; ++l) {
            const int v = ((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4);
            *dst++ = dl * static_cast<float>(v);
          }
        }
      }
    }
  }
}

// ggml's make_q3_quants with do_rmse: levels in [-nmax, nmax - 1] (returned offset by nmax)
// refined greedily, up to 5 passes, to maximise (sum w x l)^2 / sum w l^2 with w = x^2.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < 1e-15f) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const auto clamp = [nmax](int l) { return std::max(-nmax, std::min(nmax - 1, l)); };
  const float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clamp(nearest_int(iscale * x[i]));
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const float li = static_cast<float>(L[i]);
      float slx = sumlx - w * x[i] * li;
      if (slx > 0) {
        float sl2 = suml2 - w * li * li;
        const int new_l = clamp(nearest_int(x[i] * sl2 / slx));
        if (new_l != L[i]) {
          const float fl = static_cast<float>(new_l);
          slx += w * x[i] * fl;
          sl2 += w * fl * fl;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (n_changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// [n] f32 -> [n/256] q3_K
void quantize_row_q3_K(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ3_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, src += kQK_K) {
    int8_t L[kQK_K];
    float scales[kQK_K / 16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < kQK_K / 16; ++j) {
      scales[j] = make_q3_quants(16, 4, src + 16 * j, L + 16 * j);
      const float scale = std::fabs(scales[j]);
      if (scale > amax) {
        amax = scale;
        max_scale = scales[j];
      }
    }
    std::memset(y[b].scales, 0, sizeof y[b].scales);
    if (max_scale != 0.0f) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < kQK_K / 16; ++j) {
        int l = std::max(-32, std::min(31, static_cast<int>(static_cast<int8_t>(
                                               nearest_int(iscale * scales[j]))))) + 32;
        if (j < 8)
          y[b].scales[j] = static_cast<uint8_t>(l & 0x0f);
        else
          y[b].scales[j - 8] |= static_cast<uint8_t>((l & 0x0f) << 4);
        l >>= 4;
        y[b].scales[j % 4 + 8] |= static_cast<uint8_t>(l << (2 * (j / 4)));
      }
      y[b].d = to_f16(1 / iscale);
    } else {
      y[b].d = to_f16(0.f);
    }
    int sc[16];
    q3_k_scales(y[b].scales, sc);
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = to_f32(y[b].d) * static_cast<float>(sc[j]);
      if (d == 0.0f) continue;
      for (int i = 0; i < 16; ++i) {
        const int l = std::max(-4, std::min(3, nearest_int(src[16 * j + i] / d)));
        L[16 * j + i] = static_cast<int8_t>(l + 4);
      }
    }
    // The high bit of element j goes to bit j / 32 of hmask[j % 32]; the two low bits to qs.
    std::memset(y[b].hmask, 0, sizeof y[b].hmask);
    uint8_t lo[kQK_K];
    for (int j = 0; j < kQK_K; ++j) {
      int l = L[j];
      if (l > 3) {
        y[b].hmask[j % 32] |= static_cast<uint8_t>(1u << (j / 32));
        l -= 4;
      }
      lo[j] = static_cast<uint8_t>(l);
    }
    pack_2bit(lo, y[b].qs);
  }
}

}  // namespace

void register_quant_k_low(QuantOps& ops) {
  set_quant_ops(ops, DType::Q2_K, dequantize_row_q2_K, quantize_row_q2_K);
  set_quant_ops(ops, DType::Q3_K, dequantize_row_q3_K, quantize_row_q3_K);
}

}  // namespace tandem
