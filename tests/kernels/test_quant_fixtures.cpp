// tandem's quantizers and dequantizers against what the real llama.cpp produced for the same
// inputs (tests/data/ggml, made by scripts/peer/make-ggml-fixtures): byte-identical quantized
// blocks, bit-identical dequantized floats, at every ISA level this machine has.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "kernels/quant.h"

namespace tandem {
namespace {

const std::string kDir = std::string(TANDEM_TEST_DATA_DIR) + "/ggml/";

std::vector<uint8_t> read_bytes(const std::string& name) {
  std::ifstream f(kDir + name, std::ios::binary);
  EXPECT_TRUE(f.good()) << "missing fixture " << kDir + name;
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::vector<float> read_floats(const std::string& name) {
  const auto bytes = read_bytes(name);
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

struct Manifest {
  int rows = 0, n_per_row = 0;
  nlohmann::json types;
};

const Manifest& manifest() {
  static const Manifest m = [] {
    std::ifstream f(kDir + "manifest.json");
    const auto j = nlohmann::json::parse(f);
    return Manifest{j.at("rows").get<int>(), j.at("n_per_row").get<int>(), j.at("types")};
  }();
  return m;
}

// Index of the first differing float (bitwise; -0 != +0), or -1.
int64_t first_bit_difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return static_cast<int64_t>(i);
  return -1;
}

class QuantFixture : public ::testing::TestWithParam<Isa> {};

TEST_P(QuantFixture, QuantizeMatchesGgmlBytes) {
  const auto& ops = quant_ops(GetParam());
  const auto input = read_floats("input.f32");
  const auto& m = manifest();
  ASSERT_EQ(input.size(), static_cast<size_t>(m.rows) * m.n_per_row);
  int checked = 0;
  for (const auto& t : m.types) {
    if (!t.at("quantized_by_peer").get<bool>()) continue;
    const std::string name = t.at("name");
    const auto type = static_cast<DType>(t.at("id").get<int>());
    ASSERT_EQ(name, dtype_name(type));
    const size_t rb = t.at("row_bytes").get<size_t>();
    ASSERT_EQ(rb, row_bytes(type, m.n_per_row));
    const auto expected = read_bytes(name + ".quant");
    ASSERT_EQ(expected.size(), rb * m.rows) << name;
    auto fn = ops.quantize[static_cast<size_t>(type)];
    ASSERT_NE(fn, nullptr) << name;
    for (int r = 0; r < m.rows; ++r) {
      std::vector<uint8_t> got(rb, 0xcd);
      fn(input.data() + static_cast<size_t>(r) * m.n_per_row, got.data(), m.n_per_row);
      const uint8_t* want = expected.data() + r * rb;
      size_t diff = 0;
      while (diff < rb && got[diff] == want[diff]) ++diff;
      EXPECT_EQ(diff, rb) << name << " row " << r << ": first differing byte " << diff
                          << " (block " << diff / block_bytes(type) << ", byte "
                          << diff % block_bytes(type) << "): got " << int(got[diff])
                          << ", ggml " << int(want[diff]);
    }
    ++checked;
  }
  EXPECT_EQ(checked, 13);
}

TEST_P(QuantFixture, DequantizeMatchesGgmlFloats) {
  const auto& ops = quant_ops(GetParam());
  const auto& m = manifest();
  int checked = 0;
  for (const auto& t : m.types) {
    const std::string name = t.at("name");
    const auto type = static_cast<DType>(t.at("id").get<int>());
    auto fn = ops.dequantize[static_cast<size_t>(type)];
    ASSERT_NE(fn, nullptr) << name;
    struct Case {
      std::string quant, dequant;
    };
    std::vector<Case> cases = {{name + ".rand.quant", name + ".rand.dequant"}};
    if (t.at("quantized_by_peer").get<bool>()) cases.push_back({name + ".quant", name + ".dequant"});
    for (const auto& c : cases) {
      const auto q = read_bytes(c.quant);
      const auto want = read_floats(c.dequant);
      ASSERT_EQ(q.size(), row_bytes(type, static_cast<int64_t>(want.size()))) << c.quant;
      std::vector<float> got(want.size());
      fn(q.data(), got.data(), static_cast<int64_t>(got.size()));
      const int64_t at = first_bit_difference(got, want);
      EXPECT_EQ(at, -1) << c.quant << ": element " << at << " got " << got[at] << ", ggml "
                        << want[at];
      ++checked;
    }
  }
  EXPECT_EQ(checked, 28);
}

INSTANTIATE_TEST_SUITE_P(Quant, QuantFixture, ::testing::ValuesIn(available_isas()),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace tandem
