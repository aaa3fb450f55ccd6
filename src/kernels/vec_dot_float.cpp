// Float weights (F32, F16, BF16) dotted with F32 activations: the scalar reference and the
// registrar that installs the x86 variants. Sums use 8 interleaved partial sums (a fixed order,
// so the reference is deterministic) and add them pairwise at the end.
#include <cstring>

#include "core/half.h"
#include "kernels/vec_dot.h"

namespace tandem {
namespace {

template <typename Load>
float dot_row(int64_t k, const void* w, const float* a, Load load) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= k; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += load(w, i + j) * a[i + j];
  for (; i < k; ++i) s[i & 7] += load(w, i) * a[i];
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

template <typename Load>
void dot_rows(int64_t k, const void* w, size_t w_stride, int nr, const void* act, float* out,
              Load load) {
  const auto* a = static_cast<const float*>(act);
  for (int r = 0; r < nr; ++r)
    out[r] = dot_row(k, static_cast<const char*>(w) + static_cast<size_t>(r) * w_stride, a, load);
}

// [nr rows][k] f32 weights . [k] f32 activations -> [nr]
void vec_dot_f32_f32(int64_t k, const void* w, size_t w_stride, int nr, const void* act,
                     float* out) {
  dot_rows(k, w, w_stride, nr, act, out,
           [](const void* p, int64_t i) { return static_cast<const float*>(p)[i]; });
}

// [nr rows][k] f16 weights . [k] f32 activations -> [nr]
void vec_dot_f16_f32(int64_t k, const void* w, size_t w_stride, int nr, const void* act,
                     float* out) {
  dot_rows(k, w, w_stride, nr, act, out,
           [](const void* p, int64_t i) { return to_f32(static_cast<const f16*>(p)[i]); });
}

// [nr rows][k] bf16 weights . [k] f32 activations -> [nr]
void vec_dot_bf16_f32(int64_t k, const void* w, size_t w_stride, int nr, const void* act,
                      float* out) {
  dot_rows(k, w, w_stride, nr, act, out,
           [](const void* p, int64_t i) { return to_f32(static_cast<const bf16*>(p)[i]); });
}

}  // namespace

void quantize_row_bf16_act(const float* x, void* dst, int64_t k) {
  auto* y = static_cast<bf16*>(dst);
  for (int64_t i = 0; i < k; ++i) y[i] = to_bf16(x[i]);
}

void register_vec_dot_float(VecDotTable& t, Isa isa) {
  auto set = [&](DType w, VecDotFn fn) {
    t.by_weight[static_cast<size_t>(w)] = VecDotKernel{DType::F32, fn, 1};
  };
  switch (isa) {
    case Isa::Scalar:
      set(DType::F32, vec_dot_f32_f32);
      set(DType::F16, vec_dot_f16_f32);
      set(DType::BF16, vec_dot_bf16_f32);
      t.act_quantize[static_cast<size_t>(DType::BF16)] = quantize_row_bf16_act;
      break;
    case Isa::Avx2: avx2::register_vec_dot_float(t); break;
    case Isa::Avx512: avx512::register_vec_dot_float(t); break;
    case Isa::Count: break;
  }
}

}  // namespace tandem
