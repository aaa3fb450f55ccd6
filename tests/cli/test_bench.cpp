// tandem bench: the JSON contract (keys, one object, sane values) on the bundled model, and
// one-line errors for bad flags. Speed itself is measured by make bench, never asserted here.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/run_tandem.h"
#include "gguf/file.h"

namespace tandem::test {
namespace {

const std::string kModel = TANDEM_SOURCE_DIR "/models/tandem-demo.gguf";

TEST(Bench, JsonHasTheContractKeys) {
  const auto r = run_tandem("bench -m " + kModel + " -p 32 -n 8 -r 3 -t 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);  // exactly one JSON document on stdout
  for (const char* key : {"pp_tokens_per_s", "tg_tokens_per_s", "threads", "model_bytes", "peak_rss_bytes",
                          "file_bytes", "kv_bytes", "tg_weights_gb_per_s"})
    EXPECT_TRUE(j.contains(key)) << key << " missing in " << r.out;
  EXPECT_EQ(j["threads"], 2);
  EXPECT_EQ(j["pp_samples"].size(), 3u);
  EXPECT_EQ(j["tg_samples"].size(), 3u);
  EXPECT_GT(j["pp_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["tg_tokens_per_s"].get<double>(), 0.0);
  // The weights a decode step reads: every matrix and norm vector. This model ties its output to
  // the embedding table, which is therefore read whole as the output matrix: all tensor bytes.
  const auto f = gguf::File::open(kModel);
  size_t all_bytes = 0;
  for (const auto& t : f.tensors()) all_bytes += t.nbytes;
  EXPECT_EQ(j["model_bytes"].get<size_t>(), all_bytes);
  EXPECT_GE(j["peak_rss_bytes"].get<size_t>(), j["kv_bytes"].get<size_t>());
}

TEST(Bench, OnlyTheTestsAskedFor) {
  const auto r = run_tandem("bench -m " + kModel + " -p 0 -n 4 -r 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j.contains("pp_tokens_per_s"));
  EXPECT_TRUE(j.contains("tg_tokens_per_s"));
  const auto table = run_tandem("bench -m " + kModel + " -p 16 -n 4 -r 1");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("pp16"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("tg4"), std::string::npos) << table.out;
}

TEST(Bench, BadFlagsAreOneLine) {
  for (const std::string& args : {std::string("bench -m ") + kModel + " -p 0 -n 0", std::string("bench -m ") + kModel + " -r 0",
                                 std::string("bench -m /nonexistent.gguf")}) {
    const auto r = run_tandem(args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace tandem::test
