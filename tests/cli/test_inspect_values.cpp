// tandem inspect on files written for the test: every metadata value type in JSON and text,
// a metadata-only v2 file, and broken files (exit 2, one line naming the file and the problem).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gguf/writer.h"
#include "run_tandem.h"

namespace tandem {
namespace {

using gguf::Array;
using gguf::Value;
using gguf::ValueType;
using test::run_tandem;

std::string temp_path(const std::string& stem) {
  return (std::filesystem::temp_directory_path() /
          (stem + "-" + std::to_string(::getpid()) + ".gguf"))
      .string();
}

TEST(CliInspectValues, EveryValueTypeInJson) {
  gguf::Writer w(2);
  w.set("u8", uint8_t{255});
  w.set("i8", int8_t{-128});
  w.set("u16", uint16_t{65535});
  w.set("i16", int16_t{-32768});
  w.set("u32", uint32_t{4294967295u});
  w.set("i32", int32_t{-2147483647 - 1});
  w.set("f32", 0.1f);
  w.set("bool", false);
  w.set("str", std::string("tab\there"));
  w.set("u64", uint64_t{18446744073709551615ull});
  w.set("i64", int64_t{-9223372036854775807ll - 1});
  w.set("f64", 2.5e-300);
  Array longer{ValueType::U16, {}};
  for (int i = 0; i < 100; ++i) longer.items.emplace_back(static_cast<uint16_t>(i * 3));
  w.set("arr.long", longer);
  w.set("arr.nested", Array{ValueType::Array,
                            {Array{ValueType::I8, {int8_t{-1}}}, Array{ValueType::String, {}}}});
  const std::string path = temp_path("tandem-values");
  w.write(path);

  const auto r = run_tandem("inspect --json " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& m = j["metadata"];
  EXPECT_EQ(m.size(), 14u);
  EXPECT_EQ(m["u8"], 255);
  EXPECT_EQ(m["i8"], -128);
  EXPECT_EQ(m["u16"], 65535);
  EXPECT_EQ(m["i16"], -32768);
  EXPECT_EQ(m["u32"], 4294967295u);
  EXPECT_EQ(m["i32"], -2147483648ll);
  EXPECT_EQ(m["f32"].get<double>(), 0.1);  // the float's shortest text, not 0.100000001
  EXPECT_EQ(m["bool"], false);
  EXPECT_EQ(m["str"], "tab\there");
  EXPECT_EQ(m["u64"].get<uint64_t>(), 18446744073709551615ull);
  EXPECT_EQ(m["i64"].get<int64_t>(), -9223372036854775807ll - 1);
  EXPECT_EQ(m["f64"].get<double>(), 2.5e-300);
  ASSERT_EQ(m["arr.long"].size(), 100u);  // JSON keeps every element
  EXPECT_EQ(m["arr.long"][99], 297);
  EXPECT_EQ(m["arr.nested"], nlohmann::json::parse(R"([[-1], []])"));
  EXPECT_TRUE(j["tensors"].empty());

  // Text: types named, long arrays summarized, control characters escaped.
  const auto t = run_tandem("inspect " + path);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("GGUF v2"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("arr[u16,100]   [0, 3, 6, 9, 12, ... 95 more]"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("\"tab\\there\""), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("arr[arr,2]     [arr[1], arr[0]]"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("total: 0 tensors, 0 parameters, 0 bytes"), std::string::npos) << t.out;
  std::filesystem::remove(path);
}

// One broken file per kind, through the binary: exit 2, nothing on stdout, one stderr line.
TEST(CliInspectValues, BrokenFilesNameTheProblem) {
  gguf::Writer w;
  w.set("general.architecture", "llama");
  std::vector<float> x(64, 1.0f);
  const int64_t shape[] = {64};
  w.add_tensor("blk.0.attn_q.weight", DType::F32, shape, std::as_bytes(std::span(x)));
  const std::vector<std::byte> good = w.to_bytes();

  struct Broken {
    size_t at;  // byte to change (or, with `cut`, the new size)
    uint8_t value;
    bool cut;
    std::string expect;
  };
  // Layout: header 24; key (8 + 20) type 4, string 8 + 5 = 69; tensor name 8 + 19 at 69,
  // n_dims at 96, dim at 100, type at 108, offset at 112; data at 128 (256 bytes).
  const std::vector<Broken> cases = {
      {0, 'X', false, "not a GGUF file: magic is 'XGUF', expected 'GGUF'"},
      {4, 1, false, "GGUF version 1 is not supported"},
      {108, 4, false, "tensor 0 'blk.0.attn_q.weight': unknown tensor type id 4 at byte 108"},
      {96, 5, false, "tensor 0 'blk.0.attn_q.weight': n_dims is 5, expected 1..4"},
      {112, 16, false, "tensor 0 'blk.0.attn_q.weight': data offset 16 is not a multiple of the alignment 32"},
      {300, 0, true,
       "tensor 0 'blk.0.attn_q.weight': data [offset 0, 256 bytes] extends past the end of the file (300 bytes"},
  };
  ASSERT_EQ(good.size(), 384u);
  const std::string path = temp_path("tandem-broken");
  for (const Broken& b : cases) {
    SCOPED_TRACE(b.expect);
    std::vector<std::byte> bytes = good;
    if (b.cut) bytes.resize(b.at);
    else bytes[b.at] = static_cast<std::byte>(b.value);
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    const auto r = run_tandem("inspect --json " + path);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(r.err.rfind("tandem: " + path + ": ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(b.expect), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tandem
