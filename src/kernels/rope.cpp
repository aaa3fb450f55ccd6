#include "kernels/rope.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace tandem {
namespace {

float yarn_ramp(float low, float high, int i0) {
  const float y = (static_cast<float>(i0 / 2) - low) / std::max(0.001f, high - low);
  return 1.0f - std::min(1.0f, std::max(0.0f, y));
}

}  // namespace

void rope_yarn_corr_dims(int n_dims, int n_ctx_orig, float base, float beta_fast, float beta_slow,
                         float dims[2]) {
  const auto corr_dim = [&](float n_rot) {
    return static_cast<float>(n_dims) *
           std::log(static_cast<float>(n_ctx_orig) / (n_rot * 2.0f * static_cast<float>(M_PI))) /
           (2.0f * std::log(base));
  };
  const float start = std::floor(corr_dim(beta_fast));
  const float end = std::ceil(corr_dim(beta_slow));
  dims[0] = std::max(0.0f, start);
  dims[1] = std::min(static_cast<float>(n_dims - 1), end);
}

void rope(float* x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t* pos,
          const RopeParams& p) {
  TANDEM_CHECK(p.n_dims > 0 && p.n_dims % 2 == 0 && p.n_dims <= head_dim,
               "rope: n_dims {} for head_dim {}", p.n_dims, head_dim);
  const int half = p.n_dims / 2;
  float corr[2] = {0.0f, 0.0f};
  if (p.ext_factor != 0.0f)
    rope_yarn_corr_dims(p.n_dims, p.n_ctx_orig, p.base, p.beta_fast, p.beta_slow, corr);
  const float theta_scale = std::pow(p.base, -2.0f / static_cast<float>(p.n_dims));
  thread_local std::vector<float> cs;  // [half][2]: cos, sin for the current position
  cs.resize(static_cast<size_t>(2 * half));
  for (int64_t t = 0; t < n_tok; ++t) {
    float theta = static_cast<float>(pos[t]);
    for (int i = 0; i < half; ++i) {
      const int i0 = 2 * i;
      const float ff = p.freq_factors ? p.freq_factors[i] : 1.0f;
      const float theta_extrap = theta / ff;
      const float theta_interp = p.freq_scale * theta_extrap;
      float th = theta_interp;
      float mscale = p.attn_factor;
      if (p.ext_factor != 0.0f) {
        const float mix = yarn_ramp(corr[0], corr[1], i0) * p.ext_factor;
        th = theta_interp * (1.0f - mix) + theta_extrap * mix;
        mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
      }
      cs[2 * i] = std::cos(th) * mscale;
      cs[2 * i + 1] = std::sin(th) * mscale;
      theta *= theta_scale;
    }
    for (int64_t h = 0; h < n_head; ++h) {
      float* v = x + (t * n_head + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        const int a = p.layout == RopeLayout::Normal ? 2 * i : i;
        const int b = p.layout == RopeLayout::Normal ? 2 * i + 1 : i + half;
        const float x0 = v[a], x1 = v[b];
        const float c = cs[2 * i], s = cs[2 * i + 1];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
      }
    }
  }
}

}  // namespace tandem
