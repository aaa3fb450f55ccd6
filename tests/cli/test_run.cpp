// tandem run / perplexity / chat from the outside: output contract, exit codes and one-line
// errors for bad input. Models: the llama.cpp-made tiny files (tests/data/llama.cpp) and broken
// variants of them written here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "cli/run_tandem.h"
#include "gguf/file.h"
#include "gguf/writer.h"

namespace tandem::test {
namespace {

namespace fs = std::filesystem;
const std::string kModel = TANDEM_TEST_DATA_DIR "/llama.cpp/tiny-llama-Q8_0.gguf";

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// Rewrites the tiny model with `edit` applied to a copy of its metadata and tensor list.
class Variant {
 public:
  using Edit = std::function<void(gguf::Writer&, const gguf::File&)>;
  Variant(const std::string& name, bool keep_tensors, const Edit& edit)
      : path_((fs::temp_directory_path() / ("tandem-variant-" + std::to_string(::getpid()) + name + ".gguf")).string()) {
    const gguf::File src = gguf::File::open(kModel);
    gguf::Writer w;
    for (const auto& [k, v] : src.metadata()) w.set(k, v);
    if (keep_tensors)
      for (const auto& t : src.tensors()) w.add_tensor(t.name, t.type, std::span(t.ne.data(), size_t(t.n_dims)), src.tensor_data(t));
    edit(w, src);
    w.write(path_);
  }
  ~Variant() { fs::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Run, GreedyPrintsOnlyGeneratedTextAndATimingLine) {
  const auto r = run_tandem("run -m " + kModel + " -p 'Hello' -n 12 --temp 0 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("Hello"), std::string::npos) << "the prompt must not be echoed: " << r.out;
  // Greedy is deterministic: the same command prints the same text.
  const auto again = run_tandem("run -m " + kModel + " -p 'Hello' -n 12 --temp 0 -t 2");
  EXPECT_EQ(again.out, r.out);
}

TEST(Run, SameSeedSameTextAndTheTokenLimitHolds) {
  const std::string cmd = "run -m " + kModel + " -p 'abc' -n 16 --temp 1.5 --top-k 0 --top-p 1 --min-p 0 --ignore-eos ";
  const auto a = run_tandem(cmd + "-s 7"), b = run_tandem(cmd + "-s 7"), c = run_tandem(cmd + "-s 8");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  EXPECT_NE(a.err.find("generated 16 tokens"), std::string::npos) << a.err;
}

struct BadCase {
  const char* name;
  std::string args;
  const char* expect;  // in the one stderr line
};

TEST(Run, BadInputIsOneLineAndExitTwo) {
  const std::string dir = fs::temp_directory_path().string();
  const std::string not_gguf = dir + "/tandem-not-gguf-" + std::to_string(::getpid()) + ".gguf";
  std::ofstream(not_gguf) << "this is not a model\n";
  Variant arch("arch", true, [](gguf::Writer& w, const gguf::File&) { w.set("general.architecture", "mamba"); });
  Variant missing("missing", false, [](gguf::Writer& w, const gguf::File& src) {
    for (const auto& t : src.tensors())
      if (t.name != "blk.0.ffn_up.weight")
        w.add_tensor(t.name, t.type, std::span(t.ne.data(), size_t(t.n_dims)), src.tensor_data(t));
  });
  static std::vector<std::byte> odd(256 * 256, std::byte{0});
  Variant type("type", false, [](gguf::Writer& w, const gguf::File& src) {
    for (const auto& t : src.tensors()) {
      if (t.name == "blk.0.attn_q.weight") {
        const int64_t ne[2] = {256, 256};
        w.add_tensor(t.name, DType::IQ2_XXS, ne, std::span(odd.data(), row_bytes(DType::IQ2_XXS, 256) * 256));
      } else {
        w.add_tensor(t.name, t.type, std::span(t.ne.data(), size_t(t.n_dims)), src.tensor_data(t));
      }
    }
  });
  Variant shape("shape", true, [](gguf::Writer& w, const gguf::File&) { w.set("llama.feed_forward_length", uint32_t{640}); });
  const BadCase cases[] = {
      {"missing file", "run -m /nonexistent/model.gguf -p hi", "/nonexistent/model.gguf"},
      {"not gguf", "run -m " + not_gguf + " -p hi", "not-gguf"},
      {"architecture", "run -m " + arch.path() + " -p hi", "mamba"},
      {"missing tensor", "run -m " + missing.path() + " -p hi", "blk.0.ffn_up.weight"},
      {"tensor type", "run -m " + type.path() + " -p hi", "iq2_xxs"},
      {"tensor shape", "run -m " + shape.path() + " -p hi", "shape"},
      {"prompt too long", "run -m " + kModel + " -c 8 -p 'a long prompt that cannot fit in eight tokens'", "-c"},
      {"no prompt", "run -m " + kModel, "prompt"},
      {"bad flag value", "run -m " + kModel + " -p hi --temp -1", "temp"},
      {"perplexity needs text", "perplexity -m " + kModel + " -f /nonexistent.txt", "/nonexistent.txt"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto r = run_tandem(c.args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("error:"), std::string::npos) << "a runtime error instead of an input error: " << r.err;
  }
  fs::remove(not_gguf);
}

TEST(Perplexity, LastLineIsPpl) {
  // 3 windows of 16 tokens over a byte-level vocabulary: every byte is one token.
  const std::string path = fs::temp_directory_path() / ("tandem-ppl-" + std::to_string(::getpid()) + ".txt");
  std::string text;
  for (int i = 0; i < 6; ++i) text += "the quick brown fox. ";
  std::ofstream(path) << text;
  const auto r = run_tandem("perplexity -m " + kModel + " -f " + path + " -c 16");
  fs::remove(path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto last = r.out.substr(r.out.rfind("PPL = "));
  const double ppl = std::stod(last.substr(6));
  EXPECT_GT(ppl, 1.0);
  EXPECT_LT(ppl, 256.0 * 4);  // random weights: near uniform over 256 tokens, not absurd
}

TEST(Chat, SurvivesEmptyLinesAndEndOfInput) {
  const auto r = run_tandem("chat -m " + kModel + " -n 4 --temp 0 < /dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string in = fs::temp_directory_path() / ("tandem-chat-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(in) << "\n   \nhello\n\nagain\n";
  const auto r2 = run_tandem("chat -m " + kModel + " -n 4 --temp 0 < " + in);
  fs::remove(in);
  EXPECT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_GE(lines(r2.out), 2) << "a reply line per non-empty message: " << r2.out;
}

}  // namespace
}  // namespace tandem::test
