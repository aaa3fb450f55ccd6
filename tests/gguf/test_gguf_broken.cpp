// The corpus of deliberately broken files: each must fail with one clear error naming the file
// and the problem, never crash or over-allocate (the ASan build runs these too).
#include <gtest/gtest.h>

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/file.h"
#include "gguf_builder.h"

namespace tandem {
namespace {

using test::RawGguf;
using test::valid_raw;

std::string parse_error(const std::vector<uint8_t>& bytes) {
  try {
    gguf::File::parse(std::as_bytes(std::span(bytes)), "broken.gguf");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

struct Case {
  const char* name;
  std::function<std::vector<uint8_t>()> make;
  const char* expect;  // substring of the message
};

std::vector<uint8_t> with(std::function<void(RawGguf&)> edit) {
  RawGguf g = valid_raw();
  edit(g);
  return g.bytes();
}

// The head of an array value whose elements are missing.
std::vector<uint8_t> bytes_of_array(uint32_t elem_type, uint64_t count) {
  std::vector<uint8_t> r;
  RawGguf::put_str(r, "arr");
  RawGguf::put_u32(r, 9);  // array
  RawGguf::put_u32(r, elem_type);
  RawGguf::put_u64(r, count);
  return r;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> kCases = {
      {"empty", [] { return std::vector<uint8_t>{}; }, "too short for a GGUF file"},
      {"wrong magic", [] { return with([](RawGguf& g) { g.magic = 0x4c4d4747; }); },
       "not a GGUF file: magic is 'GGML'"},
      {"version 1", [] { return with([](RawGguf& g) { g.version = 1; }); },
       "version 1 is not supported"},
      {"version 99", [] { return with([](RawGguf& g) { g.version = 99; }); },
       "unsupported GGUF version 99"},
      {"big endian", [] { return with([](RawGguf& g) { g.version = 0x03000000; }); },
       "big-endian"},
      {"huge kv count", [] { return with([](RawGguf& g) { g.n_kv_override = 1ull << 60; }); },
       "metadata count 1152921504606846976 cannot fit"},
      {"huge tensor count",
       [] { return with([](RawGguf& g) { g.n_tensors_override = 1ull << 40; }); },
       "tensor count 1099511627776 cannot fit"},
      {"huge string length",
       [] {
         return with([](RawGguf& g) {
           std::vector<uint8_t> r;
           RawGguf::put_u64(r, 1ull << 62);
           r.push_back('x');
           g.kvs.insert(g.kvs.begin(), r);
         });
       },
       "string length 4611686018427387904 runs past the end"},
      {"unknown value type",
       [] {
         return with([](RawGguf& g) {
           std::vector<uint8_t> r;
           RawGguf::put_str(r, "k");
           RawGguf::put_u32(r, 13);
           g.kvs.push_back(r);
         });
       },
       "key 'k': value type at byte"},
      {"huge array",
       [] { return with([](RawGguf& g) { g.kvs.push_back(bytes_of_array(4, 1ull << 50)); }); },
       "array of 1125899906842624 u32"},
      {"deep nesting",
       [] {
         return with([](RawGguf& g) {
           // 20 levels of arrays of one array each.
           std::vector<uint8_t> r;
           RawGguf::put_str(r, "deep");
           RawGguf::put_u32(r, 9);
           for (int i = 0; i < 20; ++i) {
             RawGguf::put_u32(r, 9);
             RawGguf::put_u64(r, 1);
           }
           g.kvs.push_back(r);
         });
       },
       "nested more than 8 deep"},
      {"bad bool", [] {
         return with([](RawGguf& g) {
           std::vector<uint8_t> r;
           RawGguf::put_str(r, "flag");
           RawGguf::put_u32(r, 7);
           r.push_back(2);
           g.kvs.push_back(r);
         });
       }, "key 'flag': bool at byte"},
      {"duplicate key",
       [] { return with([](RawGguf& g) { g.kv_u32("test.n", 8); }); }, "key 'test.n' at byte"},
      {"alignment not a power of two",
       [] { return with([](RawGguf& g) { g.kv_u32("general.alignment", 24); }); },
       "'general.alignment' is 24, expected a power of two"},
      {"alignment of the wrong type",
       [] { return with([](RawGguf& g) { g.kv_str("general.alignment", "32"); }); },
       "'general.alignment' has type str, expected u32"},
      {"tensor offset past the end",
       [] { return with([](RawGguf& g) { g.tensors[1].offset = 4096; }); },
       "tensor 1 'b': data [offset 4096, 32 bytes] extends past the end of the file"},
      {"tensor extent past the end",
       [] { return with([](RawGguf& g) { g.data_bytes = 40; }); },
       "tensor 1 'b': data [offset 32, 32 bytes] extends past the end"},
      {"overlapping tensors",
       [] {
         return with([](RawGguf& g) {
           g.tensors[0].dims = {16};  // 64 bytes, runs into b at 32
           g.data_bytes = 96;
         });
       },
       "tensor 0 'a' [0, 64) overlaps tensor 1 'b' [32, 64)"},
      {"misaligned offset", [] { return with([](RawGguf& g) { g.tensors[1].offset = 36; }); },
       "tensor 1 'b': data offset 36 is not a multiple of the alignment 32"},
      {"retired type id", [] { return with([](RawGguf& g) { g.tensors[0].type = 4; }); },
       "tensor 0 'a': unknown tensor type id 4"},
      {"unknown type id", [] { return with([](RawGguf& g) { g.tensors[0].type = 200; }); },
       "unknown tensor type id 200"},
      {"five dimensions",
       [] { return with([](RawGguf& g) { g.tensors[0].dims = {1, 1, 1, 1, 8}; }); },
       "tensor 0 'a': n_dims is 5"},
      {"zero dimension", [] { return with([](RawGguf& g) { g.tensors[0].dims = {0}; }); },
       "tensor 0 'a': dimension 0 is 0"},
      {"element count overflow",
       [] { return with([](RawGguf& g) { g.tensors[0].dims = {1ull << 32, 1ull << 32}; }); },
       "element count overflows"},
      {"partial block",
       [] {
         return with([](RawGguf& g) {
           g.tensors[0].type = 8;  // q8_0: 32 elements per block
           g.tensors[0].dims = {8};
         });
       },
       "row of 8 elements is not a whole number of q8_0 blocks"},
      {"duplicate tensor name", [] { return with([](RawGguf& g) { g.tensors[1].name = g.tensors[0].name; }); },
       "tensor 1 'a': a tensor with this name appears earlier"},
      {"empty tensor name", [] { return with([](RawGguf& g) { g.tensors[0].name = ""; }); },
       "tensor 0 at byte"},
  };
  return kCases;
}

TEST(GgufBroken, EveryCaseGivesItsError) {
  for (const Case& c : cases()) {
    const std::string msg = parse_error(c.make());
    EXPECT_NE(msg.find(c.expect), std::string::npos)
        << "case '" << c.name << "': expected '" << c.expect << "' in '" << msg << "'";
    EXPECT_EQ(msg.rfind("broken.gguf: ", 0), 0u) << "case '" << c.name << "' must name the file";
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
}

TEST(GgufBroken, ValidBaseParses) {
  const auto bytes = valid_raw().bytes();
  const gguf::File f = gguf::File::parse(std::as_bytes(std::span(bytes)), "ok.gguf");
  EXPECT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.metadata().size(), 2u);
}

// Every truncation of a valid file is an error (or, past the last tensor byte, still valid),
// and never a crash.
TEST(GgufBroken, EveryTruncationIsCaught) {
  const auto full = valid_raw().bytes();
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
    const std::string msg = parse_error(cut);
    EXPECT_FALSE(msg.empty()) << "truncated to " << n << " bytes but parsed";
  }
}

// A kv count that is plausible for the file size but wrong still fails cleanly.
TEST(GgufBroken, CountsLargerThanTheContent) {
  auto bytes = with([](RawGguf& g) { g.n_kv_override = 5; });
  EXPECT_NE(parse_error(bytes), "");
}

}  // namespace
}  // namespace tandem
