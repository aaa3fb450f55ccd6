// Files written by llama.cpp itself (tests/data/llama.cpp, see its README): its quantizer's
// F16, Q8_0, Q4_0 and Q4_K_M outputs for a tiny random llama.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "gguf/writer.h"

namespace tandem {
namespace {

std::string data_file(const std::string& name) {
  return std::string(TANDEM_TEST_DATA_DIR) + "/llama.cpp/" + name;
}

std::vector<std::byte> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  std::memcpy(b.data(), c.data(), c.size());
  return b;
}

// What llama.cpp's quantizer chooses per tensor for each file type.
struct Expect {
  const char* file;
  uint32_t file_type;
  std::map<std::string, DType> types;  // tensor -> type; others must be `matrix`
  DType matrix;
};

const std::vector<Expect>& expectations() {
  static const std::vector<Expect> kFiles = {
      {"tiny-llama-F16.gguf", 1, {}, DType::F16},
      {"tiny-llama-Q8_0.gguf", 7, {}, DType::Q8_0},
      {"tiny-llama-Q4_0.gguf", 2, {{"output.weight", DType::Q6_K}}, DType::Q4_0},
      {"tiny-llama-Q4_K_M.gguf", 15,
       {{"output.weight", DType::Q6_K}, {"blk.1.attn_v.weight", DType::Q6_K},
        {"blk.1.ffn_down.weight", DType::Q6_K}},
       DType::Q4_K},
  };
  return kFiles;
}

TEST(GgufLlamaFiles, TensorTablesAreRight) {
  for (const Expect& e : expectations()) {
    SCOPED_TRACE(e.file);
    const gguf::File f = gguf::File::open(data_file(e.file));
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(*f.find("general.architecture")->as_string(), "llama");
    EXPECT_EQ(*f.find("general.file_type")->as_int(), e.file_type);
    EXPECT_EQ(f.find("tokenizer.ggml.tokens")->as_array()->items.size(), 256u);
    ASSERT_EQ(f.tensors().size(), 21u);
    const int64_t dim = 256, kv = 128, ffn = 512, vocab = 256;
    const std::map<std::string, std::pair<int64_t, int64_t>> shapes = {
        {"token_embd.weight", {dim, vocab}},        {"output.weight", {dim, vocab}},
        {"blk.0.attn_q.weight", {dim, dim}},        {"blk.0.attn_k.weight", {dim, kv}},
        {"blk.1.attn_v.weight", {dim, kv}},         {"blk.1.ffn_down.weight", {ffn, dim}},
        {"blk.0.ffn_gate.weight", {dim, ffn}},      {"output_norm.weight", {dim, 1}}};
    for (const auto& [name, shape] : shapes) {
      const gguf::TensorInfo* t = f.find_tensor(name);
      ASSERT_NE(t, nullptr) << name;
      EXPECT_EQ(t->ne[0], shape.first) << name;
      EXPECT_EQ(t->ne[1], shape.second) << name;
    }
    uint64_t total = 0;
    for (const gguf::TensorInfo& t : f.tensors()) {
      const bool is_norm = t.name.find("norm") != std::string::npos;
      auto it = e.types.find(t.name);
      const DType want = is_norm ? DType::F32
                         : it != e.types.end() ? it->second
                                               : (t.name == "token_embd.weight" &&
                                                  e.matrix == DType::Q4_0 ? DType::Q4_0 : e.matrix);
      EXPECT_EQ(t.type, want) << t.name << " is " << dtype_name(t.type);
      EXPECT_EQ(t.nbytes, row_bytes(t.type, t.ne[0]) * static_cast<uint64_t>(t.ne[1])) << t.name;
      EXPECT_LE(f.data_offset() + t.offset + t.nbytes, f.file_size());
      total += t.nbytes;
    }
    EXPECT_LE(total, f.file_size() - f.data_offset());
  }
}

// Our writer reproduces llama.cpp's files byte for byte, so what llama.cpp reads, it writes.
TEST(GgufLlamaFiles, RewriteIsByteExact) {
  for (const Expect& e : expectations()) {
    SCOPED_TRACE(e.file);
    const gguf::File f = gguf::File::open(data_file(e.file));
    const std::vector<std::byte> original = read_all(data_file(e.file));
    const std::vector<std::byte> rewritten = gguf::Writer::from(f).to_bytes();
    ASSERT_EQ(rewritten.size(), original.size());
    EXPECT_TRUE(rewritten == original);
  }
}

}  // namespace
}  // namespace tandem
