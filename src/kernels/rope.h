// Rotary position embeddings with ggml's semantics, so GGUF models behave as in llama.cpp.
// For pair i (0 <= i < n_dims/2): theta_i = pos * base^(-2i/n_dims) / ff[i] (frequency factors,
// Llama 3.1), scaled by freq_scale (linear scaling) and blended with the unscaled angle by
// YaRN's ramp when ext_factor != 0; cos and sin are multiplied by attn_factor (and YaRN's
// magnitude correction). Dimensions past n_dims are left as they are.
#pragma once

#include <cstdint>

namespace tandem {

enum class RopeLayout : uint8_t {
  Normal,  // pairs (2i, 2i+1): Llama in GGUF
  NeoX,    // pairs (i, i + n_dims/2): Qwen2/3, GPT-NeoX
};

struct RopeParams {
  int n_dims = 0;  // rotated dimensions (<= head_dim, even)
  float base = 10000.0f;
  float freq_scale = 1.0f;              // 1 / linear scaling factor
  const float* freq_factors = nullptr;  // [n_dims/2] or null
  RopeLayout layout = RopeLayout::Normal;
  // YaRN; ext_factor 0 disables it.
  float ext_factor = 0.0f;
  float attn_factor = 1.0f;
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  int n_ctx_orig = 0;
};

// x: [n_tok][n_head][head_dim] f32, rotated in place; pos: [n_tok].
void rope(float* x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t* pos,
          const RopeParams& p);

// The YaRN correction range [low, high] in pair-index units, as ggml computes it.
void rope_yarn_corr_dims(int n_dims, int n_ctx_orig, float base, float beta_fast, float beta_slow,
                         float dims[2]);

}  // namespace tandem
