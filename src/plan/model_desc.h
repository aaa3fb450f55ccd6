// What the planner needs to know of a model: its shape (layers, widths, heads, MLA ranks,
// experts), from a GGUF file's metadata or a built-in config for models too large to have here,
// and the counts derived from it: parameters in total and per token, KV bytes per token, FLOPs
// per token of the linear layers and of attention at a given context.
//
// Conventions: a "parameter" is one weight of a matrix (norm vectors and biases are left out:
// they are under 0.01% of any model here); FLOPs count a multiply-add as 2.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tandem::gguf {
class File;
}

namespace tandem::plan {

struct ModelDesc {
  std::string name;
  int64_t n_layer = 0;
  int64_t n_dense_layers = 0;  // leading layers with a dense FFN (all of them without experts)
  int64_t d_model = 0;
  int64_t n_head = 0, n_kv_head = 0, head_dim = 0;  // standard attention (MLA: n_kv_head unused)
  int64_t n_ff = 0;                                  // dense FFN width
  int64_t vocab = 0;
  bool tied = false;  // output matrix = embeddings
  // Multi-head latent attention (DeepSeek-V2/V3); kv_lora_rank 0 = standard attention.
  int64_t q_lora_rank = 0, kv_lora_rank = 0, qk_rope_dim = 0, qk_nope_dim = 0, v_head_dim = 0;
  // Mixture of experts in the layers after the dense ones; n_expert 0 = dense model.
  int64_t n_expert = 0, n_expert_used = 0, n_expert_shared = 0, expert_ff = 0;
  // Node-limited routing: a token's experts lie on at most this many scale-up domains (DeepSeek-V3:
  // 4), so its dispatch crosses the scale-out network at most this many times; 0 = no limit.
  int64_t route_domain_limit = 0;
  // Bytes of the weights as stored (a GGUF file's tensors); 0 = use a precision's width.
  double file_weight_bytes = 0;

  bool mla() const { return kv_lora_rank > 0; }
  bool moe() const { return n_expert > 0; }
  int64_t n_moe_layers() const { return moe() ? n_layer - n_dense_layers : 0; }

  // Parameters of one layer's attention projections.
  int64_t attn_params() const;
  int64_t dense_ffn_params() const { return 3 * d_model * n_ff; }
  int64_t expert_params() const { return 3 * d_model * expert_ff; }  // one routed or shared expert
  int64_t router_params() const { return d_model * n_expert; }
  int64_t embed_params() const { return vocab * d_model; }
  int64_t output_params() const { return vocab * d_model; }  // the logits' matrix (tied or not)

  int64_t total_params() const;
  // Weights one token passes through (the embedding is a lookup; the output matrix counts).
  int64_t active_params() const;
  // KV cache bytes per token over all layers, elem_bytes per stored element (MLA: the latent and
  // the rotary key, shared by all heads).
  double kv_bytes_per_token(double elem_bytes) const;
  // FLOPs of one token's attention over `context` earlier positions (scores and the weighted
  // sum), all layers and heads. absorbed: MLA in its decode form (queries against the latent:
  // per head kv_lora + rope for the scores, kv_lora for the values); otherwise per head the
  // full key and value widths.
  double attn_flops_per_token(double context, bool absorbed) const;
  // f32 elements of one token's vector work in one layer between the matrix products: norms and
  // residual adds over d_model (`replicated`: every rank of a tensor group does them), rotary
  // embedding and the KV store over the heads (`split` over the group). Activation conversion
  // and SwiGLU run inside the matrix products' jobs and are part of the GEMM rate.
  struct VectorWork {
    double replicated = 0, split = 0;
  };
  VectorWork vector_elements_per_layer() const;
  // FLOPs of one token through every weight matrix (2 x active_params()).
  double linear_flops_per_token() const { return 2.0 * static_cast<double>(active_params()); }

  // Throws InputError naming the first field that makes no sense.
  void validate() const;
};

// A built-in config by name (deepseek-v3, deepseek-r1, qwen3-235b-a22b, llama-3-70b,
// llama-3-405b, llama-3-8b), or nullopt.
std::optional<ModelDesc> builtin_model(const std::string& name);
std::vector<std::string> builtin_model_names();
// From a GGUF file's metadata (llama, qwen2, qwen3, qwen3moe, deepseek2 and alike); InputError
// naming the missing key.
ModelDesc model_from_gguf(const gguf::File& f);
// A built-in name, or else a GGUF file's path.
ModelDesc load_model_desc(const std::string& name_or_path);

}  // namespace tandem::plan
