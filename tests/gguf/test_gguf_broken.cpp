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
      {"alignment zero",
       [] { return with([](RawGguf& g) { g.kv_u32("general.alignment", 0); }); },
       "'general.alignment' is 0, expected a power of two"},
      {"alignment of the wrong type",
       [] { return with([](RawGguf& g) { g.kv_str("general.alignment", "32"); }); },
       "'general.alignment' has type str, expected u32"},
      {"tensor offset past the end",
       [] { return with([](RawGguf& g) { g.tensors[1].offset = 4096; }); },
       "tensor 1 'b': data [offset 4096, 32 bytes] extends past the end of the file"},
      {"tensor offset that overflows with its size",
       [] { return with([](RawGguf& g) { g.tensors[1].offset = ~uint64_t{0} - 31; }); },
       "tensor 1 'b': data [offset 18446744073709551584, 32 bytes] extends past the end of the "
       "file (256 bytes; the data section starts at byte 192)"},
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
      {"negative dimension",
       [] { return with([](RawGguf& g) { g.tensors[0].dims = {~uint64_t{0}}; }); },
       "tensor 0 'a': dimension 0 is -1 (negative as i64)"},
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

// Every truncation of a valid file is an error that names the section it stopped in (or, at
// the end of the last tensor's bytes, still a valid file), and never a crash.
TEST(GgufBroken, EveryTruncationIsCaught) {
  const RawGguf g = valid_raw();
  const auto full = g.bytes();
  size_t kv_end = 24;
  for (const auto& kv : g.kvs) kv_end += kv.size();
  const size_t data_start = full.size() - g.data_bytes;
  ASSERT_EQ(data_start, 192u);
  const size_t last_byte = data_start + 64;  // tensor b ends here
  for (size_t n = 0; n < full.size(); ++n) {
    SCOPED_TRACE(n);
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
    const std::string msg = parse_error(cut);
    if (n >= last_byte) {
      EXPECT_EQ(msg, "");
      continue;
    }
    ASSERT_FALSE(msg.empty()) << "truncated to " << n << " bytes but parsed";
    const bool says_truncated = msg.find("truncated?") != std::string::npos ||
                                msg.find("cannot fit") != std::string::npos ||
                                msg.find("runs past the end") != std::string::npos ||
                                msg.find("past the end of the file") != std::string::npos ||
                                msg.find("too short") != std::string::npos;
    EXPECT_TRUE(says_truncated) << msg;
    if (n < 4) {
      EXPECT_NE(msg.find("too short"), std::string::npos) << msg;
    } else if (n < 24) {
      EXPECT_TRUE(msg.find("version") != std::string::npos || msg.find("count") != std::string::npos) << msg;
    } else if (n < kv_end) {
      // The up-front count checks may already see that the tensors cannot fit.
      EXPECT_TRUE(msg.find("key") != std::string::npos || msg.find("count") != std::string::npos)
          << msg;
    } else if (n < data_start) {
      EXPECT_TRUE(msg.find("tensor") != std::string::npos || msg.find("data section") != std::string::npos)
          << msg;
    } else {
      EXPECT_NE(msg.find("extends past the end of the file"), std::string::npos) << msg;
    }
  }
}

// A truncated scalar value names its key and type.
TEST(GgufBroken, TruncatedValueNamesItsKey) {
  const auto full = valid_raw().bytes();
  // test.n's u32 value is the last 4 bytes of the key-value section (24 + 44 + 22 = 90).
  std::vector<uint8_t> cut(full.begin(), full.begin() + 88);
  EXPECT_EQ(parse_error(cut),
            "broken.gguf: key 'test.n': u32 value at byte 86: needs 4 bytes, but the file ends at "
            "byte 88 (truncated?)");
}

// A kv count that is plausible for the file size but wrong still fails cleanly.
TEST(GgufBroken, CountsLargerThanTheContent) {
  auto bytes = with([](RawGguf& g) { g.n_kv_override = 5; });
  EXPECT_NE(parse_error(bytes), "");
}

}  // namespace
}  // namespace tandem
