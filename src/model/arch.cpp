#include "model/arch.h"

#include <fmt/format.h>

#include "core/error.h"

namespace tandem::model {

const ArchSpec& arch_llama();
const ArchSpec& arch_qwen2();
const ArchSpec& arch_qwen3();

namespace {

const ArchSpec* const kArchs[] = {&arch_llama(), &arch_qwen2(), &arch_qwen3()};

}  // namespace

const ArchSpec* find_arch(std::string_view name) {
  for (const ArchSpec* a : kArchs)
    if (a->name == name) return a;
  return nullptr;
}

std::string arch_names() {
  std::string s;
  for (const ArchSpec* a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a->name);
  return s;
}

RopeParams HParams::rope_params() const {
  RopeParams p;
  p.n_dims = static_cast<int>(n_rot);
  p.base = rope_base;
  p.freq_scale = rope_freq_scale;
  p.layout = rope_layout;
  p.ext_factor = yarn_ext_factor;
  p.attn_factor = yarn_attn_factor;
  p.beta_fast = yarn_beta_fast;
  p.beta_slow = yarn_beta_slow;
  p.n_ctx_orig = static_cast<int>(n_ctx_orig);
  return p;
}

void read_llama_family(const Metadata& m, HParams& hp) {
  const std::string a = hp.arch + ".";
  hp.n_ctx_train = m.get_int_in(a + "context_length", 1, int64_t{1} << 24);
  hp.n_embd = m.get_int_in(a + "embedding_length", 1, int64_t{1} << 20);
  hp.n_layer = m.get_int_in(a + "block_count", 1, 4096);
  hp.n_ff = m.get_int_in(a + "feed_forward_length", 1, int64_t{1} << 22);
  hp.n_head = m.get_int_in(a + "attention.head_count", 1, 4096);
  hp.n_head_kv = m.find_int_in(a + "attention.head_count_kv", 1, hp.n_head).value_or(hp.n_head);
  if (hp.n_head % hp.n_head_kv != 0)
    m.fail(a + "attention.head_count_kv",
           fmt::format("{} KV heads do not divide {} attention heads", hp.n_head_kv, hp.n_head));
  const int64_t default_head = hp.n_embd / hp.n_head;
  hp.head_dim_k = m.find_int_in(a + "attention.key_length", 1, 65536).value_or(default_head);
  hp.head_dim_v = m.find_int_in(a + "attention.value_length", 1, 65536).value_or(default_head);
  if (hp.head_dim_k < 1 || hp.head_dim_v < 1)
    m.fail(a + "attention.head_count", "more heads than embedding dimensions");
  hp.rms_eps = static_cast<float>(m.get_number(a + "attention.layer_norm_rms_epsilon"));
  if (!(hp.rms_eps > 0.0f && hp.rms_eps < 1.0f))
    m.fail(a + "attention.layer_norm_rms_epsilon", fmt::format("{} is not in (0, 1)", hp.rms_eps));

  hp.n_rot = m.find_int_in(a + "rope.dimension_count", 2, hp.head_dim_k).value_or(hp.head_dim_k);
  if (hp.n_rot % 2 != 0) m.fail(a + "rope.dimension_count", "must be even");
  hp.rope_base = static_cast<float>(m.find_number(a + "rope.freq_base").value_or(10000.0));
  if (!(hp.rope_base > 1.0f)) m.fail(a + "rope.freq_base", fmt::format("{} must be > 1", hp.rope_base));

  // Scaling: rope.scaling.type + factor (or the older rope.scale_linear).
  const std::string type = m.find_string(a + "rope.scaling.type").value_or("none");
  double factor = m.find_number(a + "rope.scaling.factor").value_or(0.0);
  if (factor == 0.0) factor = m.find_number(a + "rope.scale_linear").value_or(0.0);
  if (type == "none" || factor == 0.0 || factor == 1.0) {
    hp.rope_scaling = type == "yarn" ? RopeScaling::Yarn : RopeScaling::None;
    if (type != "none" && type != "linear" && type != "yarn")
      m.fail(a + "rope.scaling.type", fmt::format("'{}' is not supported (none, linear, yarn)", type));
  } else if (type == "linear" || type == "yarn") {
    if (!(factor > 0.0 && factor < 1e6)) m.fail(a + "rope.scaling.factor", fmt::format("{} is not > 0", factor));
    hp.rope_scaling = type == "linear" ? RopeScaling::Linear : RopeScaling::Yarn;
    hp.rope_freq_scale = static_cast<float>(1.0 / factor);
  } else {
    m.fail(a + "rope.scaling.type", fmt::format("'{}' is not supported (none, linear, yarn)", type));
  }
  hp.n_ctx_orig = m.find_int_in(a + "rope.scaling.original_context_length", 1, int64_t{1} << 24)
                      .value_or(hp.n_ctx_train);
  if (hp.rope_scaling == RopeScaling::Yarn) {
    // As llama.cpp: YaRN mixes extrapolation and interpolation fully (ext_factor 1).
    hp.yarn_ext_factor = 1.0f;
    hp.yarn_attn_factor = static_cast<float>(m.find_number(a + "rope.scaling.attn_factor").value_or(1.0));
    hp.yarn_beta_fast = static_cast<float>(m.find_number(a + "rope.scaling.yarn_beta_fast").value_or(32.0));
    hp.yarn_beta_slow = static_cast<float>(m.find_number(a + "rope.scaling.yarn_beta_slow").value_or(1.0));
  }

  // Vocabulary: the embedding table is the truth; metadata must agree with it.
  const gguf::TensorInfo* embd = m.file().find_tensor("token_embd.weight");
  if (!embd) throw_input("{}: tensor token_embd.weight: missing (required by {})", m.file().name(), hp.arch);
  hp.n_vocab = embd->ne[1];
  if (auto v = m.find_int(a + "vocab_size"); v && *v != hp.n_vocab)
    m.fail(a + "vocab_size", fmt::format("{} disagrees with token_embd.weight's {} rows", *v, hp.n_vocab));
  hp.has_rope_freqs = m.file().find_tensor("rope_freqs.weight") != nullptr;
  hp.tied_output = m.file().find_tensor("output.weight") == nullptr;
}

void declare_llama_family(const HParams& hp, std::vector<TensorDecl>& out) {
  const int64_t e = hp.n_embd;
  out.push_back({"token_embd.weight", {e, hp.n_vocab}, TensorRole::Embedding});
  out.push_back({"output_norm.weight", {e, 1}, TensorRole::Vector});
  if (!hp.tied_output) out.push_back({"output.weight", {e, hp.n_vocab}, TensorRole::Matrix});
  if (hp.has_rope_freqs) out.push_back({"rope_freqs.weight", {hp.n_rot / 2, 1}, TensorRole::Vector});
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    auto n = [l](const char* s) { return fmt::format("blk.{}.{}", l, s); };
    out.push_back({n("attn_norm.weight"), {e, 1}, TensorRole::Vector});
    out.push_back({n("attn_q.weight"), {e, hp.q_width()}, TensorRole::Matrix});
    out.push_back({n("attn_k.weight"), {e, hp.k_width()}, TensorRole::Matrix});
    out.push_back({n("attn_v.weight"), {e, hp.v_width()}, TensorRole::Matrix});
    out.push_back({n("attn_output.weight"), {hp.n_head * hp.head_dim_v, e}, TensorRole::Matrix});
    if (hp.qkv_bias) {
      out.push_back({n("attn_q.bias"), {hp.q_width(), 1}, TensorRole::Vector});
      out.push_back({n("attn_k.bias"), {hp.k_width(), 1}, TensorRole::Vector});
      out.push_back({n("attn_v.bias"), {hp.v_width(), 1}, TensorRole::Vector});
    }
    if (hp.qk_norm) {
      out.push_back({n("attn_q_norm.weight"), {hp.head_dim_k, 1}, TensorRole::Vector});
      out.push_back({n("attn_k_norm.weight"), {hp.head_dim_k, 1}, TensorRole::Vector});
    }
    out.push_back({n("ffn_norm.weight"), {e, 1}, TensorRole::Vector});
    out.push_back({n("ffn_gate.weight"), {e, hp.n_ff}, TensorRole::Matrix});
    out.push_back({n("ffn_up.weight"), {e, hp.n_ff}, TensorRole::Matrix});
    out.push_back({n("ffn_down.weight"), {hp.n_ff, e}, TensorRole::Matrix});
  }
}

HParams read_hparams(const Metadata& meta) {
  HParams hp;
  hp.arch = meta.get_string("general.architecture");
  const ArchSpec* spec = find_arch(hp.arch);
  if (!spec)
    meta.fail("general.architecture",
              fmt::format("architecture '{}' is not supported (supported: {})", hp.arch, arch_names()));
  hp.name = meta.find_string("general.name").value_or("");
  spec->read_hparams(meta, hp);
  return hp;
}

std::vector<TensorDecl> declare_tensors(const HParams& hp) {
  std::vector<TensorDecl> out;
  find_arch(hp.arch)->declare_tensors(hp, out);
  return out;
}

}  // namespace tandem::model
