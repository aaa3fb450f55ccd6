#include "model/convert.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/error.h"
#include "core/half.h"
#include "core/progress.h"
#include "gguf/writer.h"
#include "kernels/quant.h"
#include "model/hf_tokenizer.h"
#include "model/safetensors.h"

namespace tandem::model {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Arch {
  const char* hf;     // config.json architectures[0]
  const char* gguf;   // general.architecture
  bool permute_qk;    // llama: q/k rows reordered for GGUF's adjacent-pair RoPE
};
constexpr Arch kArchs[] = {
    {"LlamaForCausalLM", "llama", true},
    {"MistralForCausalLM", "llama", true},
    {"Qwen2ForCausalLM", "qwen2", false},
    {"Qwen3ForCausalLM", "qwen3", false},
};

// Hugging Face tensor name -> GGUF name (nullopt: not a known tensor).
std::optional<std::string> gguf_name(const std::string& hf) {
  static const std::pair<const char*, const char*> top[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
  };
  for (const auto& [a, b] : top)
    if (hf == a) return std::string(b);
  static const std::regex layer(R"(model\.layers\.(\d+)\.(.+))");
  std::smatch m;
  if (!std::regex_match(hf, m, layer)) return std::nullopt;
  static const std::pair<const char*, const char*> per_layer[] = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
  };
  for (const auto& [a, b] : per_layer)
    if (m[2] == a) return fmt::format("blk.{}.{}", m[1].str(), b);
  return std::nullopt;
}

float to_f32(DType t, const std::byte* p, int64_t i) {
  if (t == DType::F32) {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return t == DType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
}

int64_t cfg_int(const json& c, const char* key, const fs::path& file, std::optional<int64_t> dflt = std::nullopt) {
  if (c.contains(key) && c[key].is_number_integer()) return c[key].get<int64_t>();
  if (c.contains(key) && !c[key].is_null()) throw_input("{}: {}: expected an integer", file.string(), key);
  if (dflt) return *dflt;
  throw_input("{}: {}: missing", file.string(), key);
}

double cfg_num(const json& c, const char* key, double dflt) {
  return c.contains(key) && c[key].is_number() ? c[key].get<double>() : dflt;
}

}  // namespace

void convert_hf(const fs::path& dir, const fs::path& out, const ConvertOptions& opt) {
  if (!fs::is_directory(dir)) throw_input("{}: not a directory (expected a Hugging Face checkpoint)", dir.string());
  const fs::path cfg_path = dir / "config.json";
  std::ifstream cin(cfg_path);
  if (!cin) throw_input("{}: cannot open (a checkpoint needs config.json)", cfg_path.string());
  json cfg;
  try {
    cfg = json::parse(cin);
  } catch (const json::exception& e) {
    throw_input("{}: not valid JSON: {}", cfg_path.string(), e.what());
  }
  std::string hf_arch = cfg.contains("architectures") && cfg["architectures"].is_array() && !cfg["architectures"].empty()
                            ? cfg["architectures"][0].get<std::string>() : "";
  const Arch* arch = nullptr;
  for (const Arch& a : kArchs)
    if (hf_arch == a.hf) arch = &a;
  if (!arch)
    throw_input("{}: architectures: '{}' is not supported (LlamaForCausalLM, MistralForCausalLM, "
                "Qwen2ForCausalLM, Qwen3ForCausalLM)", cfg_path.string(), hf_arch);
  if (opt.type != DType::F32 && opt.type != DType::F16 && opt.type != DType::BF16 && opt.type != DType::Q8_0)
    throw_input("convert: --type {} is not supported (f32, f16, bf16, q8_0)", dtype_name(opt.type));

  const int64_t n_embd = cfg_int(cfg, "hidden_size", cfg_path);
  const int64_t n_layer = cfg_int(cfg, "num_hidden_layers", cfg_path);
  const int64_t n_head = cfg_int(cfg, "num_attention_heads", cfg_path);
  const int64_t n_head_kv = cfg_int(cfg, "num_key_value_heads", cfg_path, n_head);
  const int64_t head_dim = cfg_int(cfg, "head_dim", cfg_path, n_head > 0 ? n_embd / n_head : 0);
  if (n_embd <= 0 || n_layer <= 0 || n_head <= 0 || n_head_kv <= 0 || head_dim <= 0 || n_head % n_head_kv)
    throw_input("{}: inconsistent sizes (hidden {}, layers {}, heads {}, kv heads {}, head_dim {})", cfg_path.string(),
                n_embd, n_layer, n_head, n_head_kv, head_dim);
  const std::string a = std::string(arch->gguf) + ".";

  gguf::Writer w;
  w.set("general.architecture", std::string(arch->gguf));
  const fs::path base = dir.filename().empty() ? dir.parent_path() : dir;
  w.set("general.name", cfg.contains("_name_or_path") && cfg["_name_or_path"].is_string()
                            ? cfg["_name_or_path"].get<std::string>() : base.filename().string());
  const uint32_t file_type = opt.type == DType::F32 ? 0 : opt.type == DType::F16 ? 1 : opt.type == DType::Q8_0 ? 7 : 32;
  w.set("general.file_type", file_type);
  if (opt.type == DType::Q8_0) w.set("general.quantization_version", uint32_t{2});
  w.set(a + "context_length", static_cast<uint32_t>(cfg_int(cfg, "max_position_embeddings", cfg_path, 4096)));
  w.set(a + "embedding_length", static_cast<uint32_t>(n_embd));
  w.set(a + "block_count", static_cast<uint32_t>(n_layer));
  w.set(a + "feed_forward_length", static_cast<uint32_t>(cfg_int(cfg, "intermediate_size", cfg_path)));
  w.set(a + "attention.head_count", static_cast<uint32_t>(n_head));
  w.set(a + "attention.head_count_kv", static_cast<uint32_t>(n_head_kv));
  w.set(a + "rope.freq_base", static_cast<float>(cfg_num(cfg, "rope_theta", 10000.0)));
  w.set(a + "attention.layer_norm_rms_epsilon", static_cast<float>(cfg_num(cfg, "rms_norm_eps", 1e-6)));
  w.set(a + "rope.dimension_count", static_cast<uint32_t>(head_dim));
  if (head_dim != n_embd / n_head || std::string(arch->gguf) == "qwen3") {
    w.set(a + "attention.key_length", static_cast<uint32_t>(head_dim));
    w.set(a + "attention.value_length", static_cast<uint32_t>(head_dim));
  }
  std::vector<float> rope_freqs;
  if (cfg.contains("rope_scaling") && cfg["rope_scaling"].is_object()) {
    const json& rs = cfg["rope_scaling"];
    const std::string type = rs.value("rope_type", rs.value("type", std::string("")));
    const double factor = cfg_num(rs, "factor", 1.0);
    if (type == "linear" || type == "yarn") {
      w.set(a + "rope.scaling.type", type);
      w.set(a + "rope.scaling.factor", static_cast<float>(factor));
      if (rs.contains("original_max_position_embeddings"))
        w.set(a + "rope.scaling.original_context_length", static_cast<uint32_t>(rs["original_max_position_embeddings"].get<int64_t>()));
    } else if (type == "llama3") {
      // Frequency factors as llama.cpp's converter computes them (rope_freqs.weight).
      const double base = cfg_num(cfg, "rope_theta", 10000.0), low = cfg_num(rs, "low_freq_factor", 1.0),
                   high = cfg_num(rs, "high_freq_factor", 4.0), old_ctx = cfg_num(rs, "original_max_position_embeddings", 8192);
      const double low_wl = old_ctx / low, high_wl = old_ctx / high;
      for (int64_t i = 0; i < head_dim; i += 2) {
        const double freq = 1.0 / std::pow(base, static_cast<double>(i) / static_cast<double>(head_dim));
        const double wl = 2 * M_PI / freq;
        double f;
        if (wl < high_wl) f = 1.0;
        else if (wl > low_wl) f = factor;
        else {
          const double smooth = (old_ctx / wl - low) / (high - low);
          f = 1.0 / ((1 - smooth) / factor + smooth);
        }
        rope_freqs.push_back(static_cast<float>(f));
      }
    } else if (!type.empty() && type != "default") {
      throw_input("{}: rope_scaling: type '{}' is not supported (linear, yarn, llama3)", cfg_path.string(), type);
    }
  }
  const Checkpoint ckpt = Checkpoint::open(dir);
  const SafeTensor* embd = ckpt.find("model.embed_tokens.weight");
  if (!embd || embd->shape.size() != 2) throw_input("{}: no 2-D model.embed_tokens.weight", dir.string());
  add_hf_tokenizer(dir, w, embd->shape[0]);
  const bool tied = cfg.value("tie_word_embeddings", false) || ckpt.find("lm_head.weight") == nullptr;
  std::vector<std::vector<std::byte>> store;  // converted tensors, borrowed by the writer
  store.reserve(ckpt.all().size() + 1);
  uint64_t total = 0;
  for (const auto& [name, t] : ckpt.all()) total += t->data.size();
  Progress progress("convert", total);
  int64_t vocab_rows = 0;
  for (const auto& [name, t] : ckpt.all()) {
    if (name.ends_with("rotary_emb.inv_freq")) continue;
    auto gname = gguf_name(name);
    if (!gname) throw_input("{}: tensor {} has no GGUF counterpart for {}", dir.string(), name, hf_arch);
    if (*gname == "output.weight" && tied) continue;
    if (t->shape.empty() || t->shape.size() > 2) throw_input("{}: tensor {} has {} dimensions", dir.string(), name, t->shape.size());
    const int64_t rows = t->shape.size() == 2 ? t->shape[0] : 1, cols = t->shape.back();
    if (*gname == "token_embd.weight") vocab_rows = rows;
    // Source rows in order, permuted for llama's q/k.
    const bool is_q = gname->ends_with("attn_q.weight"), is_k = gname->ends_with("attn_k.weight");
    const int64_t heads = is_q ? n_head : n_head_kv;
    const bool permute = arch->permute_qk && (is_q || is_k);
    if (permute && rows != heads * head_dim) throw_input("{}: tensor {} has {} rows, expected {}", dir.string(), name, rows, heads * head_dim);
    auto src_row = [&](int64_t r) {
      if (!permute) return r;
      const int64_t h = r / head_dim, within = r % head_dim, i = within / 2, j = within % 2;
      return h * head_dim + j * (head_dim / 2) + i;
    };
    const bool matrix = t->shape.size() == 2;
    DType out_type = matrix ? opt.type : DType::F32;
    if (out_type == DType::Q8_0 && cols % 32 != 0) out_type = DType::F16;
    const size_t rb = row_bytes(out_type, cols);
    store.emplace_back(rb * static_cast<size_t>(rows));
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      const std::byte* src = t->data.data() + static_cast<size_t>(src_row(r) * cols) * (t->dtype == DType::F32 ? 4 : 2);
      for (int64_t c = 0; c < cols; ++c) row[static_cast<size_t>(c)] = to_f32(t->dtype, src, c);
      quantize_row(out_type, row.data(), store.back().data() + rb * static_cast<size_t>(r), cols);
    }
    const std::vector<int64_t> ne = matrix ? std::vector<int64_t>{cols, rows} : std::vector<int64_t>{cols};
    w.add_tensor(*gname, out_type, ne, store.back());
    progress.advance(t->data.size());
  }
  if (!rope_freqs.empty()) {
    store.emplace_back(rope_freqs.size() * sizeof(float));
    std::memcpy(store.back().data(), rope_freqs.data(), store.back().size());
    const std::vector<int64_t> ne = {static_cast<int64_t>(rope_freqs.size())};
    w.add_tensor("rope_freqs.weight", DType::F32, ne, store.back());
  }
  if (vocab_rows == 0) throw_input("{}: no model.embed_tokens.weight", dir.string());
  w.set(a + "vocab_size", static_cast<uint32_t>(vocab_rows));
  progress.finish();
  w.write(out.string());
}

}  // namespace tandem::model
