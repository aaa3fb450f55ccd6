// Scalar references of the element-wise operators, and the per-level tables.
#include "kernels/element_ops.h"

#include <cmath>
#include <limits>

namespace tandem {
namespace {

void rms_norm_ref(const float* x, const float* w, float eps, float* out, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float r = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = w ? x[i] * r * w[i] : x[i] * r;
}

void layer_norm_ref(const float* x, const float* w, const float* b, float eps, float* out,
                    int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / static_cast<double>(n);
  double var = 0.0;
  for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  const float r = static_cast<float>(1.0 / std::sqrt(var / static_cast<double>(n) + eps));
  const float m = static_cast<float>(mean);
  for (int64_t i = 0; i < n; ++i) {
    float v = (x[i] - m) * r;
    if (w) v *= w[i];
    if (b) v += b[i];
    out[i] = v;
  }
}

void softmax_ref(float* x, int64_t n, float scale, const float* mask) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    x[i] = x[i] * scale + (mask ? mask[i] : 0.0f);
    mx = std::max(mx, x[i]);
  }
  if (mx == -std::numeric_limits<float>::infinity()) {
    for (int64_t i = 0; i < n; ++i) x[i] = 0.0f;
    return;
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

inline float silu1(float v) { return v / (1.0f + std::exp(-v)); }

void silu_ref(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = silu1(x[i]);
}

// 0.5 x (1 + tanh(y)) computed as x / (1 + e^{-2y}): the same value without the cancellation
// of 1 + tanh(y) for negative y.
void gelu_ref(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float y = kSqrt2OverPi * v * (1.0f + kGeluCoefA * v * v);
    out[i] = v / (1.0f + std::exp(-2.0f * y));
  }
}

void gelu_erf_ref(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752440f));
}

void swiglu_ref(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = silu1(gate[i]) * up[i];
}

void add_ref(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}
void mul_ref(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}
void scale_ref(const float* x, float s, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * s;
}

ElementOps build(Isa top) {
  ElementOps ops{rms_norm_ref, layer_norm_ref, softmax_ref, silu_ref, gelu_ref,
                 gelu_erf_ref, swiglu_ref,     add_ref,     mul_ref,  scale_ref};
  if (top >= Isa::Avx2) avx2::register_element_ops(ops);
  if (top >= Isa::Avx512) avx512::register_element_ops(ops);
  return ops;
}

}  // namespace

const ElementOps& element_ops(Isa isa) {
  return isa_table<ElementOps>(isa, "element_ops", build);
}

void add_row(const float* a, const float* b, float* out, int64_t rows, int64_t n) {
  const ElementOps& ops = element_ops();
  for (int64_t r = 0; r < rows; ++r) ops.add(a + r * n, b, out + r * n, n);
}

void mul_row(const float* a, const float* b, float* out, int64_t rows, int64_t n) {
  const ElementOps& ops = element_ops();
  for (int64_t r = 0; r < rows; ++r) ops.mul(a + r * n, b, out + r * n, n);
}

}  // namespace tandem
