// The legacy 32-element block formats (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) dotted with Q8_0
// activations: the scalar reference, the Q8_0 activation quantizer, and the registrar that
// installs the x86 variants.
//
// Per block b of 32: sumi_b = sum_j qw_j * qa_j in integers (exact), then
//   Q8_0, Q4_0, Q5_0:  acc += sumi_b * (d_w * d_a)
//   Q4_1, Q5_1:        acc += sumi_b * (d_w * d_a) + m_w * (d_a * sum_j qa_j)
// (ggml pairs Q4_1 / Q5_1 with Q8_1, whose f16 block sum is rounded; using the exact integer
// sum of the Q8_0 block is the same formula with less rounding.)
#include <cmath>

#include "core/quant_blocks.h"
#include "kernels/vec_dot.h"

namespace tandem {
namespace {

// [nr rows][k/32 blocks] q8_0 . [k/32 blocks] q8_0 -> [nr]
void vec_dot_q8_0_q8_0(int64_t k, const void* w, size_t w_stride, int nr, const void* act,
                       float* out) {
  const auto* a = static_cast<const BlockQ8_0*>(act);
  const int64_t nb = k / kQK;
  for (int r = 0; r < nr; ++r) {
    const auto* x = reinterpret_cast<const BlockQ8_0*>(row_ptr(w, w_stride, r));
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      int32_t sumi = 0;
      for (int j = 0; j < kQK; ++j) sumi += int32_t{x[b].qs[j]} * int32_t{a[b].qs[j]};
      acc += static_cast<float>(sumi) * (to_f32(x[b].d) * to_f32(a[b].d));
    }
    out[r] = acc;
  }
}

// [nr rows][k/32 blocks] q4_0 . [k/32 blocks] q8_0 -> [nr]
void vec_dot_q4_0_q8_0(int64_t k, const void* w, size_t w_stride, int nr, const void* act,
                       float* out) {
  const auto* a = static_cast<const BlockQ8_0*>(act);
  const int64_t nb = k / kQK;
  for (int r = 0; r < nr; ++r) {
    const auto* x = reinterpret_cast<const BlockQ4_0*>(row_ptr(w, w_stride, r));
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      int32_t sumi = 0;
      for (int j = 0; j < kQK / 2; ++j) {
        sumi += ((x[b].qs[j] & 0x0f) - 8) * int32_t{a[b].qs[j]};
        sumi += ((x[b].qs[j] >> 4) - 8) * int32_t{a[b].qs[j + kQK / 2]};
      }
      acc += static_cast<float>(sumi) * (to_f32(x[b].d) * to_f32(a[b].d));
    }
    out[r] = acc;
  }
}

// [nr rows][k/32 blocks] q4_1 . [k/32 blocks] q8_0 -> [nr]
void vec_dot_q4_1_q8_0(int64_t k, const void* w, size_t w_stride, int nr, const void* act,
                       float* out) {
  const auto* a = static_cast<const BlockQ8_0*>(act);
  const int64_t nb = k / kQK;
  for (int r = 0; r < nr; ++r) {
    const auto* x = reinterpret_cast<const BlockQ4_1*>(row_ptr(w, w_stride, r));
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      int32_t sumi = 0, suma = 0;
      for (int j = 0; j < kQK / 2; ++j) {
        sumi += (x[b].qs[j] & 0x0f) * int32_t{a[b].qs[j]};
        sumi += (x[b].qs[j] >> 4) * int32_t{a[b].qs[j + kQK / 2]};
        suma += int32_t{a[b].qs[j]} + int32_t{a[b].qs[j + kQK / 2]};
      }
      const float da = to_f32(a[b].d);
      acc += static_cast<float>(sumi) * (to_f32(x[b].d) * da) +
             to_f32(x[b].m) * (da * static_cast<float>(suma));
    }
    out[r] = acc;
  }
}

// The 5-bit value of element j (0..31) of a Q5 block: low nibble from qs, fifth bit from qh.
inline int q5_value(const uint8_t* qs, uint32_t qh, int j) {
  const int lo = j < kQK / 2 ? (qs[j] & 0x0f) : (qs[j - kQK / 2] >> 4);
  return lo | static_cast<int>(((qh >> j) & 1u) << 4);
}

inline uint32_t load_qh(const uint8_t* qh) {
  return uint32_t{qh[0]} | uint32_t{qh[1]} << 8 | uint32_t{qh[2]} << 16 | uint32_t{qh[3]} << 24;
}

// [nr rows][k/32 blocks] q5_0 . [k/32 blocks] q8_0 -> [nr]
void vec_dot_q5_0_q8_0(int64_t k, const void* w, size_t w_stride, int nr, const void* act,
                       float* out) {
  const auto* a = static_cast<const BlockQ8_0*>(act);
  const int64_t nb = k / kQK;
  for (int r = 0; r < nr; ++r) {
    const auto* x = reinterpret_cast<const BlockQ5_0*>(row_ptr(w, w_stride, r));
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const uint32_t qh = load_qh(x[b].qh);
      int32_t sumi = 0;
      for (int j = 0; j < kQK; ++j) sumi += (q5_value(x[b].qs, qh, j) - 16) * int32_t{a[b].qs[j]};
      acc += static_cast<float>(sumi) * (to_f32(x[b].d) * to_f32(a[b].d));
    }
    out[r] = acc;
  }
}

// [nr rows][k/32 blocks] q5_1 . [k/32 blocks] q8_0 -> [nr]
void vec_dot_q5_1_q8_0(int64_t k, const void* w, size_t w_stride, int nr, const void* act,
                       float* out) {
  const auto* a = static_cast<const BlockQ8_0*>(act);
  const int64_t nb = k / kQK;
  for (int r = 0; r < nr; ++r) {
    const auto* x = reinterpret_cast<const BlockQ5_1*>(row_ptr(w, w_stride, r));
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const uint32_t qh = load_qh(x[b].qh);
      int32_t sumi = 0, suma = 0;
      for (int j = 0; j < kQK; ++j) {
        sumi += q5_value(x[b].qs, qh, j) * int32_t{a[b].qs[j]};
        suma += a[b].qs[j];
      }
      const float da = to_f32(a[b].d);
      acc += static_cast<float>(sumi) * (to_f32(x[b].d) * da) +
             to_f32(x[b].m) * (da * static_cast<float>(suma));
    }
    out[r] = acc;
  }
}

}  // namespace

void quantize_row_q8_0_act(const float* x, void* dst, int64_t k) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  const int64_t nb = k / kQK;
  for (int64_t b = 0; b < nb; ++b) {
    const float* v = x + b * kQK;
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(v[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = to_f16(d);
    for (int j = 0; j < kQK; ++j) y[b].qs[j] = static_cast<int8_t>(std::round(v[j] * id));
  }
}

void register_vec_dot_legacy(VecDotTable& t, Isa isa) {
  auto set = [&](DType w, VecDotFn fn) {
    t.by_weight[static_cast<size_t>(w)] = VecDotKernel{DType::Q8_0, fn, 1};
  };
  switch (isa) {
    case Isa::Scalar:
      set(DType::Q8_0, vec_dot_q8_0_q8_0);
      set(DType::Q4_0, vec_dot_q4_0_q8_0);
      set(DType::Q4_1, vec_dot_q4_1_q8_0);
      set(DType::Q5_0, vec_dot_q5_0_q8_0);
      set(DType::Q5_1, vec_dot_q5_1_q8_0);
      t.act_quantize[static_cast<size_t>(DType::Q8_0)] = quantize_row_q8_0_act;
      break;
    case Isa::Avx2: avx2::register_vec_dot_legacy(t); break;
    case Isa::Avx512: avx512::register_vec_dot_legacy(t); break;
    case Isa::Count: break;
  }
}

}  // namespace tandem
