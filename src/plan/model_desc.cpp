#include "plan/model_desc.h"

#include <filesystem>

#include "core/error.h"
#include "gguf/file.h"

namespace tandem::plan {

int64_t ModelDesc::attn_params() const {
  if (!mla()) return d_model * n_head * head_dim * 2 + d_model * n_kv_head * head_dim * 2;
  const int64_t qk = qk_nope_dim + qk_rope_dim;
  const int64_t q = q_lora_rank > 0 ? d_model * q_lora_rank + q_lora_rank * n_head * qk : d_model * n_head * qk;
  const int64_t kv_a = d_model * (kv_lora_rank + qk_rope_dim);
  const int64_t kv_b = kv_lora_rank * n_head * (qk_nope_dim + v_head_dim);
  const int64_t o = n_head * v_head_dim * d_model;
  return q + kv_a + kv_b + o;
}

int64_t ModelDesc::total_params() const {
  int64_t p = embed_params() + (tied ? 0 : output_params()) + n_layer * attn_params() +
              (moe() ? n_dense_layers : n_layer) * dense_ffn_params();
  if (moe()) p += n_moe_layers() * ((n_expert + n_expert_shared) * expert_params() + router_params());
  return p;
}

int64_t ModelDesc::active_params() const {
  int64_t p = output_params() + n_layer * attn_params() + (moe() ? n_dense_layers : n_layer) * dense_ffn_params();
  if (moe()) p += n_moe_layers() * ((n_expert_used + n_expert_shared) * expert_params() + router_params());
  return p;
}

double ModelDesc::kv_bytes_per_token(double elem_bytes) const {
  const double per_layer = mla() ? static_cast<double>(kv_lora_rank + qk_rope_dim)
                                 : 2.0 * static_cast<double>(n_kv_head * head_dim);
  return static_cast<double>(n_layer) * per_layer * elem_bytes;
}

double ModelDesc::attn_flops_per_token(double context, bool absorbed) const {
  double per_head = 0;  // multiply-adds per head per earlier position: scores + weighted sum
  if (!mla()) per_head = 2.0 * static_cast<double>(head_dim);
  else if (absorbed) per_head = static_cast<double>(2 * kv_lora_rank + qk_rope_dim);
  else per_head = static_cast<double>(qk_nope_dim + qk_rope_dim + v_head_dim);
  return 2.0 * static_cast<double>(n_layer * n_head) * per_head * context;
}

ModelDesc::VectorWork ModelDesc::vector_elements_per_layer() const {
  VectorWork v;
  v.replicated = 4.0 * static_cast<double>(d_model);  // 2 norms, 2 residual adds
  const double qk = mla() ? static_cast<double>(qk_nope_dim + qk_rope_dim) : static_cast<double>(head_dim);
  const double kv_heads = mla() ? 1.0 : static_cast<double>(n_kv_head);
  // Rotary q and k, the KV store of k and v.
  v.split = qk * (static_cast<double>(n_head) + 3.0 * kv_heads);
  return v;
}

void ModelDesc::validate() const {
  auto need = [&](int64_t v, const char* what) {
    if (v <= 0) throw_input("model {}: {} is {} (must be positive)", name, what, v);
  };
  need(n_layer, "the layer count");
  need(d_model, "the embedding width");
  need(n_head, "the head count");
  need(vocab, "the vocabulary size");
  if (!mla()) {
    need(n_kv_head, "the KV head count");
    need(head_dim, "the head width");
  } else {
    need(qk_rope_dim, "the rotary key width");
    need(v_head_dim, "the value head width");
  }
  if (moe()) {
    need(n_expert_used, "the experts used per token");
    need(expert_ff, "the expert FFN width");
    if (n_expert_used > n_expert) throw_input("model {}: {} experts used of {}", name, n_expert_used, n_expert);
    if (n_dense_layers < 0 || n_dense_layers > n_layer) throw_input("model {}: {} dense layers of {}", name, n_dense_layers, n_layer);
  }
  if (n_dense_layers > 0 || !moe()) need(n_ff, "the FFN width");
}

namespace {

ModelDesc deepseek_v3(const std::string& name) {
  // config.json of deepseek-ai/DeepSeek-V3 (R1 has the same shape).
  ModelDesc m;
  m.name = name;
  m.n_layer = 61;
  m.n_dense_layers = 3;
  m.d_model = 7168;
  m.n_head = 128;
  m.n_ff = 18432;
  m.vocab = 129280;
  m.q_lora_rank = 1536;
  m.kv_lora_rank = 512;
  m.qk_rope_dim = 64;
  m.qk_nope_dim = 128;
  m.v_head_dim = 128;
  m.n_expert = 256;
  m.n_expert_used = 8;
  m.n_expert_shared = 1;
  m.expert_ff = 2048;
  m.route_domain_limit = 4;  // arXiv 2412.19437 s2.1.2: each token is sent to at most M = 4 nodes
  return m;
}

ModelDesc llama3(const std::string& name, int64_t layers, int64_t d, int64_t heads, int64_t ff) {
  // config.json of meta-llama/Meta-Llama-3-{8B,70B} and Llama-3.1-405B.
  ModelDesc m;
  m.name = name;
  m.n_layer = layers;
  m.d_model = d;
  m.n_head = heads;
  m.n_kv_head = 8;
  m.head_dim = 128;
  m.n_ff = ff;
  m.vocab = 128256;
  return m;
}

}  // namespace

std::vector<std::string> builtin_model_names() {
  return {"deepseek-v3", "deepseek-r1", "qwen3-235b-a22b", "llama-3-8b", "llama-3-70b", "llama-3-405b"};
}

std::optional<ModelDesc> builtin_model(const std::string& name) {
  if (name == "deepseek-v3" || name == "deepseek-r1") return deepseek_v3(name);
  if (name == "qwen3-235b-a22b") {
    // config.json of Qwen/Qwen3-235B-A22B.
    ModelDesc m;
    m.name = name;
    m.n_layer = 94;
    m.d_model = 4096;
    m.n_head = 64;
    m.n_kv_head = 4;
    m.head_dim = 128;
    m.vocab = 151936;
    m.n_expert = 128;
    m.n_expert_used = 8;
    m.expert_ff = 1536;
    return m;
  }
  if (name == "llama-3-8b") return llama3(name, 32, 4096, 32, 14336);
  if (name == "llama-3-70b") return llama3(name, 80, 8192, 64, 28672);
  if (name == "llama-3-405b") return llama3(name, 126, 16384, 128, 53248);
  return std::nullopt;
}

ModelDesc model_from_gguf(const gguf::File& f) {
  const gguf::Value* arch_v = f.find("general.architecture");
  if (arch_v == nullptr || arch_v->as_string() == nullptr)
    throw_input("{}: no general.architecture: not a model file the planner can describe", f.name());
  const std::string arch = *arch_v->as_string();
  auto get = [&](const std::string& key, bool required) -> int64_t {
    const gguf::Value* v = f.find(arch + "." + key);
    if (v == nullptr || !v->as_int()) {
      if (required) throw_input("{}: metadata key {}.{} is missing or not an integer", f.name(), arch, key);
      return 0;
    }
    return *v->as_int();
  };
  ModelDesc m;
  m.name = std::filesystem::path(f.name()).filename().string();
  m.n_layer = get("block_count", true);
  m.d_model = get("embedding_length", true);
  m.n_head = get("attention.head_count", true);
  m.n_kv_head = get("attention.head_count_kv", false);
  if (m.n_kv_head == 0) m.n_kv_head = m.n_head;
  m.head_dim = get("attention.key_length", false);
  if (m.head_dim == 0) m.head_dim = m.d_model / m.n_head;
  m.n_ff = get("feed_forward_length", false);
  m.vocab = get("vocab_size", false);
  if (m.vocab == 0)
    if (const gguf::Value* t = f.find("tokenizer.ggml.tokens"); t != nullptr && t->as_array() != nullptr)
      m.vocab = static_cast<int64_t>(t->as_array()->items.size());
  m.kv_lora_rank = get("attention.kv_lora_rank", false);
  if (m.mla()) {
    m.q_lora_rank = get("attention.q_lora_rank", false);
    m.qk_rope_dim = get("rope.dimension_count", true);
    m.qk_nope_dim = m.head_dim - m.qk_rope_dim;
    m.v_head_dim = get("attention.value_length", true);
  }
  m.n_expert = get("expert_count", false);
  if (m.moe()) {
    m.n_expert_used = get("expert_used_count", true);
    m.n_expert_shared = get("expert_shared_count", false);
    m.expert_ff = get("expert_feed_forward_length", false);
    if (m.expert_ff == 0) m.expert_ff = m.n_ff;
    m.n_dense_layers = get("leading_dense_block_count", false);
  }
  m.tied = f.find_tensor("output.weight") == nullptr;
  for (const gguf::TensorInfo& t : f.tensors()) m.file_weight_bytes += static_cast<double>(t.nbytes);
  m.validate();
  return m;
}

ModelDesc load_model_desc(const std::string& name_or_path) {
  if (auto m = builtin_model(name_or_path)) return *m;
  if (!std::filesystem::exists(name_or_path)) {
    std::string names;
    for (const auto& n : builtin_model_names()) names += (names.empty() ? "" : ", ") + n;
    throw_input("-m {}: neither a built-in model ({}) nor a file", name_or_path, names);
  }
  return model_from_gguf(gguf::File::open(name_or_path));
}

}  // namespace tandem::plan
