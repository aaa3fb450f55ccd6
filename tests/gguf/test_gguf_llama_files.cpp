// Files written by llama.cpp itself (tests/data/llama.cpp, see its README): its quantizer's
// F16, Q8_0, Q4_0 and Q4_K_M outputs for a tiny random llama that tandem's writer made, each
// with llama.cpp's own reading of it (NAME.gguf.llama.txt, from gguf_init_from_file).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/half.h"
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

// tandem's reading in the format scripts/peer/gguf_check.c prints llama.cpp's.
std::string listing(const gguf::File& f) {
  std::ostringstream s;
  s << "kv " << f.metadata().size() << " tensors " << f.tensors().size() << "\n";
  for (const gguf::TensorInfo& t : f.tensors())
    s << t.name << " " << static_cast<unsigned>(t.type) << " " << f.data_offset() + t.offset << " "
      << t.nbytes << "\n";
  return s.str();
}

// What llama.cpp's quantizer chose per tensor for each file type.
struct Expect {
  const char* file;
  uint32_t file_type;
  DType matrix;                        // most 2-D weights
  std::map<std::string, DType> other;  // the exceptions
};

const std::vector<Expect>& expectations() {
  static const std::vector<Expect> kFiles = {
      {"tiny-llama-F16.gguf", 1, DType::F16, {}},
      {"tiny-llama-Q8_0.gguf", 7, DType::Q8_0, {}},
      {"tiny-llama-Q4_0.gguf", 2, DType::Q4_0, {{"output.weight", DType::Q6_K}}},
      // Q4_K_M: q6_K for the output, and for attn_v / ffn_down in the layers that get more
      // bits (with one layer, layer 0).
      {"tiny-llama-Q4_K_M.gguf", 15, DType::Q4_K,
       {{"output.weight", DType::Q6_K},
        {"blk.0.attn_v.weight", DType::Q6_K},
        {"blk.0.ffn_down.weight", DType::Q6_K}}},
  };
  return kFiles;
}

TEST(GgufLlamaFiles, MetadataAndTensorTables) {
  const int64_t dim = 256, kv = 128, ffn = 512, vocab = 256;
  const std::map<std::string, std::vector<int64_t>> shapes = {
      {"token_embd.weight", {dim, vocab}},    {"output.weight", {dim, vocab}},
      {"output_norm.weight", {dim}},          {"blk.0.attn_norm.weight", {dim}},
      {"blk.0.ffn_norm.weight", {dim}},       {"blk.0.attn_q.weight", {dim, dim}},
      {"blk.0.attn_k.weight", {dim, kv}},     {"blk.0.attn_v.weight", {dim, kv}},
      {"blk.0.attn_output.weight", {dim, dim}}, {"blk.0.ffn_gate.weight", {dim, ffn}},
      {"blk.0.ffn_up.weight", {dim, ffn}},    {"blk.0.ffn_down.weight", {ffn, dim}}};
  for (const Expect& e : expectations()) {
    SCOPED_TRACE(e.file);
    const gguf::File f = gguf::File::open(data_file(e.file));
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.alignment(), 32u);
    EXPECT_EQ(*f.find("general.architecture")->as_string(), "llama");
    EXPECT_EQ(*f.find("general.file_type")->as_int(), e.file_type);
    EXPECT_EQ(*f.find("llama.block_count")->as_int(), 1);
    EXPECT_EQ(*f.find("general.quantization_version")->as_int(), 2);  // added by llama.cpp
    const gguf::Array* tokens = f.find("tokenizer.ggml.tokens")->as_array();
    ASSERT_NE(tokens, nullptr);
    EXPECT_EQ(tokens->type, gguf::ValueType::String);
    ASSERT_EQ(tokens->items.size(), 256u);
    EXPECT_EQ(*tokens->items[1].as_string(), "<s>");
    EXPECT_EQ(*tokens->items[255].as_string(), "<0xFC>");

    ASSERT_EQ(f.tensors().size(), shapes.size());
    for (const gguf::TensorInfo& t : f.tensors()) {
      SCOPED_TRACE(t.name);
      auto shape = shapes.find(t.name);
      ASSERT_NE(shape, shapes.end());
      ASSERT_EQ(t.n_dims, static_cast<int>(shape->second.size()));
      for (int d = 0; d < t.n_dims; ++d) EXPECT_EQ(t.ne[d], shape->second[d]);
      const auto other = e.other.find(t.name);
      const DType want = t.n_dims == 1 ? DType::F32
                         : other != e.other.end() ? other->second
                                                  : e.matrix;
      EXPECT_EQ(t.type, want) << "is " << dtype_name(t.type);
      const uint64_t rows = t.n_dims == 1 ? 1 : static_cast<uint64_t>(t.ne[1]);
      EXPECT_EQ(t.nbytes, row_bytes(t.type, t.ne[0]) * rows);
      EXPECT_EQ(t.offset % f.alignment(), 0u);
      EXPECT_LE(f.data_offset() + t.offset + t.nbytes, f.file_size());
    }
  }
}

// Concrete numbers for the mixed file: types and byte sizes of q4_K and q6_K rows.
TEST(GgufLlamaFiles, Q4KMMixesQ4KAndQ6K) {
  const gguf::File f = gguf::File::open(data_file("tiny-llama-Q4_K_M.gguf"));
  const gguf::TensorInfo* q = f.find_tensor("blk.0.attn_q.weight");
  const gguf::TensorInfo* v = f.find_tensor("blk.0.attn_v.weight");
  const gguf::TensorInfo* down = f.find_tensor("blk.0.ffn_down.weight");
  ASSERT_TRUE(q && v && down);
  EXPECT_EQ(q->type, DType::Q4_K);
  EXPECT_EQ(q->nbytes, 256u * 144u);        // 256 rows of one 144-byte super-block
  EXPECT_EQ(v->type, DType::Q6_K);
  EXPECT_EQ(v->nbytes, 128u * 210u);        // 128 rows of one 210-byte super-block
  EXPECT_EQ(down->nbytes, 256u * 2u * 210u);  // rows of 512: two super-blocks
  std::map<DType, int> count;
  for (const auto& t : f.tensors()) count[t.type]++;
  EXPECT_EQ(count[DType::Q4_K], 6);
  EXPECT_EQ(count[DType::Q6_K], 3);
  EXPECT_EQ(count[DType::F32], 3);
}

// Our reading of each file equals llama.cpp's own (gguf_init_from_file), offsets included.
TEST(GgufLlamaFiles, ReadingEqualsLlamaCpps) {
  for (const Expect& e : expectations()) {
    SCOPED_TRACE(e.file);
    std::ifstream in(data_file(std::string(e.file) + ".llama.txt"));
    ASSERT_TRUE(in) << "missing llama.cpp listing";
    const std::string theirs((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(listing(gguf::File::open(data_file(e.file))), theirs);
  }
}

// The views point at the right bytes: the Q8_0 file's token embeddings, dequantized by hand
// from the mapping, match the F16 file's within Q8_0's rounding.
TEST(GgufLlamaFiles, ViewsReadTheRightBytes) {
  const gguf::File f16 = gguf::File::open(data_file("tiny-llama-F16.gguf"));
  const gguf::File q8 = gguf::File::open(data_file("tiny-llama-Q8_0.gguf"));
  const TensorView a = f16.view(*f16.find_tensor("token_embd.weight"));
  const TensorView b = q8.view(*q8.find_tensor("token_embd.weight"));
  ASSERT_EQ(a.dtype, DType::F16);
  ASSERT_EQ(b.dtype, DType::Q8_0);
  ASSERT_EQ(a.nrows(), b.nrows());
  // Straight into the mapping, at the absolute offset llama.cpp reports for this tensor
  // (tiny-llama-F16.gguf.llama.txt).
  EXPECT_EQ(static_cast<const std::byte*>(a.data) - f16.bytes().data(), 139232);
  double max_err = 0, max_abs = 0;
  for (int64_t r = 0; r < a.nrows(); ++r) {
    const auto* ha = a.row<const uint16_t>(r);
    const auto* qb = b.row<const std::byte>(r);
    for (int64_t i = 0; i < a.ne[0]; ++i) {
      const std::byte* block = qb + (i / 32) * 34;  // f16 scale, then 32 int8
      uint16_t d;
      std::memcpy(&d, block, 2);
      const auto q = static_cast<int8_t>(block[2 + i % 32]);
      const double want = fp16_to_fp32(ha[i]);
      max_err = std::max(max_err, std::abs(want - fp16_to_fp32(d) * q));
      max_abs = std::max(max_abs, std::abs(want));
    }
  }
  EXPECT_GT(max_abs, 0.1);             // real weights (0.05 * normal), not zeros
  EXPECT_LT(max_err, max_abs / 100.0);  // int8 with a per-block scale: well under 1%
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
