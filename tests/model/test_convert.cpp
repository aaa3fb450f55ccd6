// tandem convert and tandem quantize.
//  - Tiny Hugging Face checkpoints (tests/reference/make_hf_checkpoint.py: Llama with GQA in two
//    shards, Qwen2 with biases and tied embeddings, Qwen3 with q/k norms) are converted and run;
//    the logits must match a PyTorch forward pass with Hugging Face's own layout and RoPE, which
//    checks the tensor mapping and llama's q/k row permutation end to end.
//  - Quantizing the llama.cpp fixture's F16 file must reproduce llama.cpp's own quantized files
//    byte for byte: the same per-tensor types and the same bytes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/run_tandem.h"
#include "gguf/file.h"
#include "model/context.h"
#include "model/convert.h"
#include "model/model.h"
#include "model/quantize.h"

namespace tandem::model {
namespace {

namespace fs = std::filesystem;

class Convert : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("tandem-hf-" + std::to_string(::getpid())));
    const std::string cmd = "/usr/bin/python3 " TANDEM_SOURCE_DIR "/tests/reference/make_hf_checkpoint.py " + dir_->string();
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    std::ifstream in(*dir_ / "expected.json");
    expected_ = new nlohmann::json(nlohmann::json::parse(in));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete expected_;
  }
  static fs::path* dir_;
  static nlohmann::json* expected_;
};
fs::path* Convert::dir_ = nullptr;
nlohmann::json* Convert::expected_ = nullptr;

TEST_F(Convert, ConvertedModelsComputeWhatTheCheckpointDoes) {
  // Relative max error allowed per output type (f32 runs with an f32 KV cache; Q8_0 also
  // quantizes activations, see test_reference.cpp for the tight check of that path).
  const std::pair<const char*, double> types[] = {{"f32", 1e-5}, {"f16", 3e-3}, {"bf16", 3e-2}, {"q8_0", 1e-1}};
  for (const char* arch : {"llama", "qwen2", "qwen3"}) {
    for (const auto& [type, tol] : types) {
      SCOPED_TRACE(std::string(arch) + " " + type);
      const fs::path out = *dir_ / (std::string(arch) + "-" + type + ".gguf");
      convert_hf(*dir_ / arch, out, {.type = *dtype_from_name(type)});
      auto model = Model::load(out.string());
      const auto& e = (*expected_)[arch];
      const auto ids = e["ids"].get<std::vector<TokenId>>();
      Context ctx(*model, {.n_ctx = 32, .kv_type = std::string(type) == "f32" ? DType::F32 : DType::F16});
      const auto logits = ctx.eval(ids, true);
      const size_t V = static_cast<size_t>(model->hparams().n_vocab);
      double d = 0, scale = 0;
      for (size_t t = 0; t < ids.size(); ++t)
        for (size_t i = 0; i < V; ++i) {
          const double r = e["logits"][t][i].get<double>();
          d = std::max(d, std::abs(logits[t * V + i] - r));
          scale = std::max(scale, std::abs(r));
        }
      EXPECT_LE(d / scale, tol);
    }
  }
}

TEST_F(Convert, MetadataAndTensorsAsLlamaCppWritesThem) {
  const fs::path q = *dir_ / "qwen2-meta.gguf", q3 = *dir_ / "qwen3-meta.gguf", l = *dir_ / "llama-meta.gguf";
  convert_hf(*dir_ / "qwen2", q, {.type = DType::F16});
  convert_hf(*dir_ / "qwen3", q3, {.type = DType::Q8_0});
  convert_hf(*dir_ / "llama", l, {.type = DType::F16});
  const gguf::File fq = gguf::File::open(q.string()), f3 = gguf::File::open(q3.string()), fl = gguf::File::open(l.string());
  EXPECT_EQ(*fq.find("general.architecture")->as_string(), "qwen2");
  EXPECT_EQ(fq.find_tensor("output.weight"), nullptr) << "tied embeddings: no output.weight";
  ASSERT_NE(fq.find_tensor("blk.1.attn_k.bias"), nullptr);
  EXPECT_EQ(fq.find_tensor("blk.1.attn_k.bias")->type, DType::F32);
  EXPECT_EQ(fq.find_tensor("blk.0.ffn_down.weight")->type, DType::F16);
  EXPECT_EQ(*fq.find("tokenizer.ggml.model")->as_string(), "gpt2");
  EXPECT_EQ(*fq.find("general.file_type")->as_int(), 1);
  EXPECT_EQ(*f3.find("qwen3.attention.key_length")->as_int(), 32);
  EXPECT_NE(f3.find_tensor("blk.0.attn_q_norm.weight"), nullptr);
  EXPECT_EQ(f3.find_tensor("blk.0.attn_q.weight")->type, DType::Q8_0);
  EXPECT_EQ(f3.find_tensor("blk.0.attn_q.weight")->ne[1], 4 * 32);
  EXPECT_EQ(*f3.find("general.file_type")->as_int(), 7);
  EXPECT_NE(fl.find_tensor("output.weight"), nullptr);  // separate lm_head, read from the second shard
  EXPECT_EQ(*fl.find("llama.attention.head_count_kv")->as_int(), 2);
  EXPECT_NE(fl.find("tokenizer.chat_template"), nullptr);
}

TEST(Quantize, ReproducesLlamaCppsQuantizerByteForByte) {
  const std::string src = TANDEM_TEST_DATA_DIR "/llama.cpp/tiny-llama-F16.gguf";
  for (const auto& [target, ref] : {std::pair{"q8_0", "Q8_0"}, {"q4_0", "Q4_0"}, {"q4_k_m", "Q4_K_M"}}) {
    SCOPED_TRACE(target);
    const fs::path out = fs::temp_directory_path() / (std::string("tandem-q-") + target + std::to_string(::getpid()) + ".gguf");
    quantize_model(src, out, target);
    const gguf::File ours = gguf::File::open(out.string());
    const gguf::File theirs = gguf::File::open(std::string(TANDEM_TEST_DATA_DIR "/llama.cpp/tiny-llama-") + ref + ".gguf");
    ASSERT_EQ(ours.tensors().size(), theirs.tensors().size());
    for (const auto& t : theirs.tensors()) {
      const gguf::TensorInfo* o = ours.find_tensor(t.name);
      ASSERT_NE(o, nullptr) << t.name;
      EXPECT_EQ(o->type, t.type) << t.name;
      const auto a = ours.tensor_data(*o), b = theirs.tensor_data(t);
      EXPECT_TRUE(a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin())) << t.name << ": bytes differ";
    }
    EXPECT_EQ(*ours.find("general.file_type")->as_int(), *theirs.find("general.file_type")->as_int());
    fs::remove(out);
  }
}

TEST_F(Convert, RowsThatAreNotWholeSuperBlocksFallBackAndStillRun) {
  // Rows of 64 cannot hold 256-element K-quant blocks: as llama.cpp, q4_K falls back to q5_0 and
  // q6_K (the tied output) to q8_0; norms and biases stay f32.
  const fs::path f16 = *dir_ / "qwen2-fallback-f16.gguf", out = *dir_ / "qwen2-fallback-q4km.gguf";
  convert_hf(*dir_ / "qwen2", f16, {.type = DType::F16});
  quantize_model(f16, out, "q4_k_m");
  const gguf::File f = gguf::File::open(out.string());
  for (const auto& t : f.tensors()) {
    const DType want = t.n_dims == 1 ? DType::F32 : t.name == "token_embd.weight" ? DType::Q8_0 : DType::Q5_0;
    if (!t.name.ends_with("attn_v.weight") && !t.name.ends_with("ffn_down.weight")) {
      EXPECT_EQ(t.type, want) << t.name;
    }
  }
  auto model = Model::load(out.string());
  Context ctx(*model, {.n_ctx = 16});
  const TokenId ids[] = {5, 6, 7};
  const auto logits = ctx.eval(ids);
  EXPECT_TRUE(std::all_of(logits.begin(), logits.end(), [](float x) { return std::isfinite(x); }));
}

TEST(ConvertCli, BadInputIsOneLineAndExitTwo) {
  const fs::path dir = fs::temp_directory_path() / ("tandem-badhf-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string out = (dir / "out.gguf").string();
  struct Case {
    const char* name;
    std::function<void()> setup;
    std::string args;
    const char* expect;
  };
  auto write = [&](const char* file, const std::string& text) { std::ofstream(dir / file) << text; };
  const Case cases[] = {
      {"missing dir", [] {}, "convert /nonexistent/hf -o " + out, "not a directory"},
      {"no config", [] {}, "convert " + dir.string() + " -o " + out, "config.json"},
      {"architecture", [&] { write("config.json", R"({"architectures": ["MambaForCausalLM"]})"); },
       "convert " + dir.string() + " -o " + out, "MambaForCausalLM"},
      {"truncated safetensors",
       [&] {
         write("config.json", R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 1,
             "num_attention_heads": 4, "intermediate_size": 128})");
         write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
             "pre_tokenizer": {"type": "ByteLevel"}})");
         std::string st(8, '\0');
         st[0] = 100;  // header claims 100 bytes, file has 4
         write("model.safetensors", st + "{\"a\"");
       },
       "convert " + dir.string() + " -o " + out, "model.safetensors"},
      {"unknown quant type", [] {}, "quantize " TANDEM_TEST_DATA_DIR "/llama.cpp/tiny-llama-F16.gguf " + out + " q3_xyz", "q3_xyz"},
      {"bad type flag", [] {}, "convert " + dir.string() + " -o " + out + " --type q4_0", "type"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    c.setup();
    const auto r = test::run_tandem(c.args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tandem::model
