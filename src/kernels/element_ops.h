// Row-wise and element-wise operators of a transformer layer: norms, softmax, activations and
// arithmetic on f32 rows. Each has a scalar reference; AVX2 and AVX-512 variants override the
// hot ones (kernels/x86/<level>/element_ops.cpp). All functions may run in place (out == x).
#pragma once

#include <cstdint>

#include "kernels/isa.h"

namespace tandem {

struct ElementOps {
  // out = x / sqrt(mean(x^2) + eps) [* w]      (w nullable)
  void (*rms_norm)(const float* x, const float* w, float eps, float* out, int64_t n) = nullptr;
  // out = (x - mean) / sqrt(var + eps) [* w] [+ b]   (w, b nullable)
  void (*layer_norm)(const float* x, const float* w, const float* b, float eps, float* out,
                     int64_t n) = nullptr;
  // x = softmax(x * scale [+ mask]) in place; mask nullable, -inf entries give exactly 0.
  // A row that is entirely -inf becomes all zeros (not NaN).
  void (*softmax)(float* x, int64_t n, float scale, const float* mask) = nullptr;
  void (*silu)(const float* x, float* out, int64_t n) = nullptr;      // x * sigmoid(x)
  void (*gelu)(const float* x, float* out, int64_t n) = nullptr;      // tanh approximation
  void (*gelu_erf)(const float* x, float* out, int64_t n) = nullptr;  // exact, with erf
  // out = silu(gate) * up
  void (*swiglu)(const float* gate, const float* up, float* out, int64_t n) = nullptr;
  void (*add)(const float* a, const float* b, float* out, int64_t n) = nullptr;
  void (*mul)(const float* a, const float* b, float* out, int64_t n) = nullptr;
  void (*scale)(const float* x, float s, float* out, int64_t n) = nullptr;
};

// The table of one level: the scalar entries, overridden by each level up to `isa`.
const ElementOps& element_ops(Isa isa);
inline const ElementOps& element_ops() { return element_ops(active_isa()); }

// Per-level registrars (x86/avx2/element_ops.cpp, x86/avx512/element_ops.cpp).
namespace avx2 {
void register_element_ops(ElementOps& ops);
}
namespace avx512 {
void register_element_ops(ElementOps& ops);
}

// Convenience wrappers over the active table.
inline void rms_norm(const float* x, const float* w, float eps, float* out, int64_t n) {
  element_ops().rms_norm(x, w, eps, out, n);
}
inline void layer_norm(const float* x, const float* w, const float* b, float eps, float* out,
                       int64_t n) {
  element_ops().layer_norm(x, w, b, eps, out, n);
}
inline void softmax(float* x, int64_t n, float scale = 1.0f, const float* mask = nullptr) {
  element_ops().softmax(x, n, scale, mask);
}
inline void silu(const float* x, float* out, int64_t n) { element_ops().silu(x, out, n); }
inline void gelu(const float* x, float* out, int64_t n) { element_ops().gelu(x, out, n); }
inline void gelu_erf(const float* x, float* out, int64_t n) { element_ops().gelu_erf(x, out, n); }
inline void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  element_ops().swiglu(gate, up, out, n);
}
inline void add(const float* a, const float* b, float* out, int64_t n) { element_ops().add(a, b, out, n); }
inline void mul(const float* a, const float* b, float* out, int64_t n) { element_ops().mul(a, b, out, n); }
inline void scale(const float* x, float s, float* out, int64_t n) { element_ops().scale(x, s, out, n); }

// Row broadcast: out[r] = a[r] (op) b for each of `rows` rows of n (b is one row).
void add_row(const float* a, const float* b, float* out, int64_t rows, int64_t n);
void mul_row(const float* a, const float* b, float* out, int64_t rows, int64_t n);

// Constants shared by the reference and the SIMD variants.
inline constexpr float kGeluCoefA = 0.044715f;
inline constexpr float kSqrt2OverPi = 0.79788456080286535588f;

}  // namespace tandem
