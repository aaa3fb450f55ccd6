// Hyper-parameters of a model, read from GGUF metadata ({arch}.* keys) by its architecture.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/rope.h"

namespace tandem::model {

enum class RopeScaling : uint8_t { None, Linear, Yarn };

struct HParams {
  std::string arch;  // general.architecture
  std::string name;  // general.name (may be empty)
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim_k = 0;  // per-head width of q and k
  int64_t head_dim_v = 0;  // per-head width of v
  int64_t n_ff = 0;
  float rms_eps = 1e-5f;

  // Rotary embeddings.
  int64_t n_rot = 0;  // rotated dimensions per head
  float rope_base = 10000.0f;
  RopeLayout rope_layout = RopeLayout::Normal;
  RopeScaling rope_scaling = RopeScaling::None;
  float rope_freq_scale = 1.0f;  // 1 / scaling factor
  int64_t n_ctx_orig = 0;        // YaRN: the context the model was trained with
  float yarn_ext_factor = 0.0f;
  float yarn_attn_factor = 1.0f;
  float yarn_beta_fast = 32.0f;
  float yarn_beta_slow = 1.0f;
  bool has_rope_freqs = false;  // rope_freqs.weight (Llama 3.1 frequency factors)

  // Family features.
  bool qkv_bias = false;  // qwen2: biases on q, k, v
  bool qk_norm = false;   // qwen3: per-head RMSNorm of q and k before RoPE
  bool tied_output = false;  // no output.weight: the embedding table is the output matrix

  int64_t q_width() const { return n_head * head_dim_k; }
  int64_t k_width() const { return n_head_kv * head_dim_k; }
  int64_t v_width() const { return n_head_kv * head_dim_v; }
  // Parameters of the rope kernel for these hyper-parameters (freq_factors left null).
  RopeParams rope_params() const;
};

}  // namespace tandem::model
