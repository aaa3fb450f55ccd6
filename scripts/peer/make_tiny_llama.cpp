// Writes a tiny random-weight GGUF (F16 matrices, F32 norms) with tandem's own GGUF writer, so
// llama.cpp's reader and quantizer get to judge a file tandem wrote. Layouts:
//   llama    1 layer, separate output (the original fixture)
//   llama32  Llama 3.2 layout: tied output, rope_freqs (Llama 3 frequency factors), base 500000
//   qwen3    Qwen3 layout: q/k norms, head width 128 > n_embd / n_head, tied output, base 1e6
// Compiled by scripts/peer/make-llama-gguf against a built libtandem.a (not part of the build).
//   make_tiny_llama OUT.gguf [SEED] [LAYOUT]   writes the file
//   make_tiny_llama --list FILE.gguf   prints tandem's reading of any GGUF file as
//     "kv N tensors M", then "name type_id absolute_offset bytes" per tensor: the format
//     scripts/peer/gguf_check.c prints for llama.cpp's reading, so the two can be diffed.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/half.h"
#include "gguf/file.h"
#include "gguf/writer.h"

namespace {

using tandem::DType;
using tandem::gguf::Array;
using tandem::gguf::Value;
using tandem::gguf::ValueType;

constexpr uint32_t kDim = 256, kHeads = 4, kKvHeads = 2, kFfn = 512, kVocab = 256, kCtx = 512;

struct Layout {
  std::string arch = "llama";
  uint32_t layers = 1;
  uint32_t head_dim = kDim / kHeads;
  bool tied = false, rope_freqs = false, qk_norm = false;
  float rope_base = 10000.0f;
};
Layout g_layout;

struct Spec {
  std::string name;
  std::vector<int64_t> ne;  // innermost first
  DType type;
};

std::vector<Spec> tensor_specs() {
  const Layout& L = g_layout;
  const int64_t kv_dim = int64_t{L.head_dim} * kKvHeads, q_dim = int64_t{L.head_dim} * kHeads;
  std::vector<Spec> s = {{"token_embd.weight", {kDim, kVocab}, DType::F16}};
  if (L.rope_freqs) s.push_back({"rope_freqs.weight", {L.head_dim / 2}, DType::F32});
  for (uint32_t i = 0; i < L.layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    s.push_back({p + "attn_norm.weight", {kDim}, DType::F32});
    s.push_back({p + "attn_q.weight", {kDim, q_dim}, DType::F16});
    s.push_back({p + "attn_k.weight", {kDim, kv_dim}, DType::F16});
    s.push_back({p + "attn_v.weight", {kDim, kv_dim}, DType::F16});
    if (L.qk_norm) {
      s.push_back({p + "attn_q_norm.weight", {L.head_dim}, DType::F32});
      s.push_back({p + "attn_k_norm.weight", {L.head_dim}, DType::F32});
    }
    s.push_back({p + "attn_output.weight", {q_dim, kDim}, DType::F16});
    s.push_back({p + "ffn_norm.weight", {kDim}, DType::F32});
    s.push_back({p + "ffn_gate.weight", {kDim, kFfn}, DType::F16});
    s.push_back({p + "ffn_up.weight", {kDim, kFfn}, DType::F16});
    s.push_back({p + "ffn_down.weight", {kFfn, kDim}, DType::F16});
  }
  s.push_back({"output_norm.weight", {kDim}, DType::F32});
  if (!L.tied) s.push_back({"output.weight", {kDim, kVocab}, DType::F16});
  return s;
}

void set_metadata(tandem::gguf::Writer& w) {
  const Layout& L = g_layout;
  const std::string a = L.arch + ".";
  w.set("general.architecture", L.arch);
  w.set("general.name", "tandem tiny " + L.arch + " (random weights)");
  w.set("general.file_type", uint32_t{1});  // mostly F16
  w.set(a + "context_length", kCtx);
  w.set(a + "embedding_length", kDim);
  w.set(a + "block_count", L.layers);
  w.set(a + "feed_forward_length", kFfn);
  w.set(a + "attention.head_count", kHeads);
  w.set(a + "attention.head_count_kv", kKvHeads);
  w.set(a + "rope.dimension_count", L.head_dim);
  if (L.head_dim != kDim / kHeads) {
    w.set(a + "attention.key_length", L.head_dim);
    w.set(a + "attention.value_length", L.head_dim);
  }
  if (L.rope_base != 10000.0f) w.set(a + "rope.freq_base", L.rope_base);
  w.set(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  // A minimal SentencePiece-style vocabulary: unk, bos, eos and byte tokens.
  Array tokens{ValueType::String, {}}, scores{ValueType::F32, {}}, types{ValueType::I32, {}};
  const char* specials[] = {"<unk>", "<s>", "</s>"};
  const int32_t special_types[] = {2, 3, 3};  // unknown, control, control
  for (uint32_t i = 0; i < kVocab; ++i) {
    char byte_token[16];
    std::snprintf(byte_token, sizeof byte_token, "<0x%02X>", i - 3);
    tokens.items.emplace_back(std::string(i < 3 ? specials[i] : byte_token));
    scores.items.emplace_back(0.0f);
    types.items.emplace_back(i < 3 ? special_types[i] : int32_t{6});  // 6: byte
  }
  w.set("tokenizer.ggml.model", "llama");
  w.set("tokenizer.ggml.tokens", std::move(tokens));
  w.set("tokenizer.ggml.scores", std::move(scores));
  w.set("tokenizer.ggml.token_type", std::move(types));
  w.set("tokenizer.ggml.bos_token_id", uint32_t{1});
  w.set("tokenizer.ggml.eos_token_id", uint32_t{2});
}

}  // namespace

static int list(const char* path) {
  const tandem::gguf::File f = tandem::gguf::File::open(path);
  std::printf("kv %zu tensors %zu\n", f.metadata().size(), f.tensors().size());
  for (const auto& t : f.tensors())
    std::printf("%s %u %llu %llu\n", t.name.c_str(), static_cast<unsigned>(t.type),
                static_cast<unsigned long long>(f.data_offset() + t.offset),
                static_cast<unsigned long long>(t.nbytes));
  return 0;
}

static int run(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--list") return list(argv[2]);
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: %s OUT.gguf [SEED] | --list FILE.gguf\n", argv[0]);
    return 2;
  }
  std::mt19937 rng(argc > 2 ? static_cast<uint32_t>(std::stoul(argv[2])) : 1234u);
  const std::string layout = argc > 3 ? argv[3] : "llama";
  if (layout == "llama32") {
    g_layout = {"llama", 2, kDim / kHeads, true, true, false, 500000.0f};
  } else if (layout == "qwen3") {
    g_layout = {"qwen3", 2, 128, true, false, true, 1000000.0f};
  } else if (layout != "llama") {
    std::fprintf(stderr, "unknown layout %s (llama, llama32, qwen3)\n", layout.c_str());
    return 2;
  }
  std::normal_distribution<float> normal(0.0f, 1.0f);

  tandem::gguf::Writer w(3);
  set_metadata(w);
  const std::vector<Spec> specs = tensor_specs();
  std::vector<std::vector<std::byte>> data(specs.size());  // the writer borrows these
  for (size_t i = 0; i < specs.size(); ++i) {
    const Spec& s = specs[i];
    int64_t n = 1;
    for (int64_t d : s.ne) n *= d;
    auto& bytes = data[i];
    if (s.type == DType::F32) {  // norms: around 1; rope_freqs: Llama 3.1's shape (1 .. 8)
      std::vector<float> v(static_cast<size_t>(n));
      for (size_t j = 0; j < v.size(); ++j)
        v[j] = s.name == "rope_freqs.weight" ? 1.0f + 7.0f * float(j) / float(v.size())
                                             : 1.0f + 0.1f * normal(rng);
      bytes.resize(v.size() * sizeof(float));
      std::memcpy(bytes.data(), v.data(), bytes.size());
    } else {
      std::vector<uint16_t> v(static_cast<size_t>(n));
      for (uint16_t& x : v) x = tandem::fp32_to_fp16(0.05f * normal(rng));
      bytes.resize(v.size() * sizeof(uint16_t));
      std::memcpy(bytes.data(), v.data(), bytes.size());
    }
    w.add_tensor(s.name, s.type, s.ne, bytes);
  }
  w.write(argv[1]);
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_tiny_llama: %s\n", e.what());
    return 1;
  }
}
