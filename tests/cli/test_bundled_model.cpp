// The bundled model (models/tandem-demo.gguf) end to end: tandem perplexity on held-out Brown
// corpus text (tests/data/brown-heldout.txt, the documents prepare.py kept out of training) must
// equal what the PyTorch reference computes from the same token ids with llama.cpp's windowing,
// and tandem run must give English-looking, seed-reproducible text.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <string>

#include "cli/run_tandem.h"

namespace tandem::test {
namespace {

namespace fs = std::filesystem;
const std::string kModel = TANDEM_SOURCE_DIR "/models/tandem-demo.gguf";
const std::string kText = TANDEM_TEST_DATA_DIR "/brown-heldout.txt";

double last_ppl(const std::string& out) {
  const auto at = out.rfind("PPL = ");
  return at == std::string::npos ? -1.0 : std::stod(out.substr(at + 6));
}

TEST(BundledModel, PerplexityMatchesTheReference) {
  constexpr int kCtx = 128, kChunks = 6;
  const auto ids = run_tandem("tokenize --no-parse-special -m " + kModel + " -f " + kText);
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  const std::string ids_file = fs::temp_directory_path() / ("tandem-ids-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(ids_file) << ids.out;
  const std::string cmd = "cd " TANDEM_SOURCE_DIR "/tests/reference && /usr/bin/python3 perplexity.py " + kModel + " " +
                          std::to_string(kCtx) + " " + std::to_string(kChunks) + " < " + ids_file;
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string ref;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) ref.append(buf, n);
  ASSERT_EQ(::pclose(p), 0) << ref;
  fs::remove(ids_file);

  const auto ours = run_tandem("perplexity -m " + kModel + " -f " + kText + " -c " + std::to_string(kCtx) +
                               " --chunks " + std::to_string(kChunks));
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  const double a = last_ppl(ours.out), b = last_ppl(ref);
  ASSERT_GT(b, 1.0) << ref;
  // f16 weights, f16 KV cache and f32 sums against float64: agreement to ~1e-4 relative.
  EXPECT_NEAR(a / b, 1.0, 1e-4) << "tandem " << a << ", reference " << b;
  // A trained model predicts held-out English far better than chance (vocabulary 4096).
  EXPECT_LT(a, 400.0);
  std::printf("[bundled model] held-out perplexity, %d windows of %d: tandem %.4f, reference %.4f\n", kChunks, kCtx, a, b);
}

TEST(BundledModel, RunGivesEnglishAndIsReproducible) {
  const std::string args = "run -m " + kModel + " -p 'The old man' -n 40 --temp 0.7 --seed 7";
  const auto a = run_tandem(args), b = run_tandem(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out) << "same seed, same text";
  // Mostly letters and spaces, several words, no replacement characters or control bytes.
  size_t letters = 0, spaces = 0;
  for (unsigned char c : a.out) {
    letters += std::isalpha(c) != 0;
    spaces += c == ' ';
    EXPECT_TRUE(c >= 0x20 || c == '\n') << "control byte " << int(c) << " in: " << a.out;
  }
  EXPECT_GE(spaces, 15u) << a.out;
  EXPECT_GT(double(letters) / double(a.out.size()), 0.7) << a.out;
  EXPECT_EQ(a.out.find("\xEF\xBF\xBD"), std::string::npos) << a.out;
}

}  // namespace
}  // namespace tandem::test
