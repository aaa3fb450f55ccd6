// tandem tokenize: one line of space-separated ids, BOS as the metadata says, specials parsed
// unless --no-parse-special; bad input is one line and exit 2.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/run_tandem.h"
#include "gguf/file.h"
#include "model/tokenizer.h"

namespace tandem::test {
namespace {

const std::string kModel = TANDEM_TEST_DATA_DIR "/llama.cpp/tiny-llama-Q8_0.gguf";

std::vector<int> ids_of(const std::string& line) {
  std::istringstream in(line);
  std::vector<int> v;
  for (int x; in >> x;) v.push_back(x);
  return v;
}

TEST(TokenizeCli, PrintsTheLibrarysIdsOnOneLine) {
  const auto f = gguf::File::open(kModel);
  const auto tok = model::Tokenizer::from_gguf(f);
  for (const std::string& text : {std::string("Hello world"), std::string("caf\xC3\xA9 <s> x")}) {
    const auto r = run_tandem("tokenize -m " + kModel + " -p '" + text + "'");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
    const auto want = tok.encode(text, true, true);
    EXPECT_EQ(ids_of(r.out), std::vector<int>(want.begin(), want.end()));
    EXPECT_EQ(ids_of(r.out).front(), tok.bos());  // this vocabulary adds BOS
  }
  // <s> is the BOS token's text: parsed by default, bytes with --no-parse-special.
  const auto parsed = ids_of(run_tandem("tokenize -m " + kModel + " -p '<s>' --no-bos").out);
  const auto plain = ids_of(run_tandem("tokenize -m " + kModel + " -p '<s>' --no-bos --no-parse-special").out);
  EXPECT_EQ(parsed, std::vector<int>{tok.bos()});
  EXPECT_GT(plain.size(), 1u);
}

TEST(TokenizeCli, BadInput) {
  for (const std::string& args : {std::string("tokenize -m /nonexistent.gguf -p x"), "tokenize -m " + kModel,
                                 "tokenize -m " + kModel + " -f /nonexistent.txt"}) {
    const auto r = run_tandem(args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace tandem::test
