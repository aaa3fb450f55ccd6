// The K formats (Q4_K, Q5_K, Q6_K) dotted with Q8_K activations: the scalar reference and the
// registrar. Per super-block of 256, with integer sums exact:
//   Q4_K / Q5_K: d_a * (d * sum_j sc_j * sum_{i in j} q_i a_i - dmin * sum_j m_j * bsum_j)
//                (8 groups of 32; bsum_j = sum of the group's activations = two Q8_K bsums)
//   Q6_K:        d_a * d * sum_g sc_g * (sum_{i in g} q_i a_i - 32 * bsum_g)   (16 groups of 16)
// Also the scalar Q8_K activation quantizer. The ISA variants (x86/avx2/vec_dot_k.cpp,
// x86/avx512/vec_dot_k.cpp) compute the same integer sums, 4 rows per activation load, and
// produce the same activation bytes; tests/kernels/test_vec_dot_k*.cpp hold them to that.
#include "kernels/vec_dot_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/quant_blocks.h"
#include "kernels/quant.h"

namespace tandem {
namespace {

// Element e (0..255) of a Q4_K / Q5_K super-block's 4-bit field: chunk c = e / 64 holds
// sub-blocks 2c (low nibbles of qs[32c..]) and 2c+1 (high nibbles).
inline int q4_nibble(const uint8_t* qs, int e) {
  const int c = e / 64, l = e % 32;
  return (e % 64) < 32 ? (qs[32 * c + l] & 0x0f) : (qs[32 * c + l] >> 4);
}

// [nr rows][k/256] q4_K or q5_K . [k/256] q8_K -> [nr]; Q5_K's fifth bit of element e is
// bit (e / 32) of qh[e % 32].
template <typename Block, bool kFive>
void vec_dot_q45_K_q8_K(int64_t k, const void* w, size_t w_stride, int nr, const void* act,
                        float* out) {
  const auto* a = static_cast<const BlockQ8_K*>(act);
  const int64_t nb = k / kQK_K;
  for (int r = 0; r < nr; ++r) {
    const auto* x = reinterpret_cast<const Block*>(row_ptr(w, w_stride, r));
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t sc[8], mn[8];
      unpack_k_scales(x[b].scales, sc, mn);
      int32_t sumi = 0, summ = 0;
      for (int j = 0; j < 8; ++j) {
        int32_t s = 0;
        for (int i = 32 * j; i < 32 * j + 32; ++i) {
          int q = q4_nibble(x[b].qs, i);
          if constexpr (kFive) q |= ((x[b].qh[i % 32] >> j) & 1) << 4;
          s += q * a[b].qs[i];
        }
        sumi += sc[j] * s;
        summ += mn[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
      }
      acc += a[b].d * (to_f32(x[b].d) * static_cast<float>(sumi) -
                       to_f32(x[b].dmin) * static_cast<float>(summ));
    }
    out[r] = acc;
  }
}

// The 6-bit value of element e (0..255) of a Q6_K super-block: half h = e / 128 uses ql[64h..]
// and qh[32h..]; within it, quarter s = (e % 128) / 32 and l = e % 32 take the low (s = 0, 1) or
// high (s = 2, 3) nibble of ql[64h + 32 (s & 1) + l] and bits 2s..2s+1 of qh[32h + l].
inline int q6_value(const BlockQ6_K& x, int e) {
  const int h = e / 128, s = (e % 128) / 32, l = e % 32;
  const uint8_t lo = x.ql[64 * h + 32 * (s & 1) + l];
  const int nib = s < 2 ? (lo & 0x0f) : (lo >> 4);
  return nib | (((x.qh[32 * h + l] >> (2 * s)) & 3) << 4);
}

// [nr rows][k/256] q6_K . [k/256] q8_K -> [nr]
void vec_dot_q6_K_q8_K(int64_t k, const void* w, size_t w_stride, int nr, const void* act,
                       float* out) {
  const auto* a = static_cast<const BlockQ8_K*>(act);
  const int64_t nb = k / kQK_K;
  for (int r = 0; r < nr; ++r) {
    const auto* x = reinterpret_cast<const BlockQ6_K*>(row_ptr(w, w_stride, r));
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      int32_t sumi = 0;
      for (int g = 0; g < 16; ++g) {
        int32_t s = 0;
        for (int i = 16 * g; i < 16 * g + 16; ++i) s += q6_value(x[b], i) * a[b].qs[i];
        sumi += x[b].scales[g] * (s - 32 * a[b].bsums[g]);
      }
      acc += a[b].d * to_f32(x[b].d) * static_cast<float>(sumi);
    }
    out[r] = acc;
  }
}

}  // namespace

// [k] f32 -> [k/256] q8_K, byte for byte ggml's quantize_row_q8_K_ref: the storage quantizer's
// scalar reference (kernels/quant_k.cpp) is the activation quantizer's reference too.
void quantize_row_q8_K_act(const float* x, void* dst, int64_t k) {
  quant_ops(Isa::Scalar).quantize[static_cast<size_t>(DType::Q8_K)](x, dst, k);
}

void register_vec_dot_k(VecDotTable& t, Isa isa) {
  switch (isa) {
    case Isa::Scalar:
      t.act_quantize[static_cast<size_t>(DType::Q8_K)] = quantize_row_q8_K_act;
      t.by_weight[static_cast<size_t>(DType::Q4_K)] = {DType::Q8_K, vec_dot_q45_K_q8_K<BlockQ4_K, false>, 1};
      t.by_weight[static_cast<size_t>(DType::Q5_K)] = {DType::Q8_K, vec_dot_q45_K_q8_K<BlockQ5_K, true>, 1};
      t.by_weight[static_cast<size_t>(DType::Q6_K)] = {DType::Q8_K, vec_dot_q6_K_q8_K, 1};
      break;
    case Isa::Avx2:
      avx2::register_vec_dot_k(t);
      break;
    case Isa::Avx512:
      avx512::register_vec_dot_k(t);
      break;
    case Isa::Count:
      break;
  }
}

}  // namespace tandem
