#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_tandem.h"

namespace tandem {
namespace {

using test::run_tandem;

const std::string kQ4KM = std::string(TANDEM_TEST_DATA_DIR) + "/llama.cpp/tiny-llama-Q4_K_M.gguf";

TEST(CliInspect, TextShowsMetadataTensorsAndTotals) {
  const auto r = run_tandem("inspect " + kQ4KM);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("general.architecture"), std::string::npos);
  EXPECT_NE(r.out.find("\"llama\""), std::string::npos);
  EXPECT_NE(r.out.find("arr[str,256]"), std::string::npos);
  EXPECT_NE(r.out.find("[\"<unk>\", \"<s>\", \"</s>\", \"<0x00>\", \"<0x01>\", ... 251 more]"),
            std::string::npos) << "long arrays are summarized";
  EXPECT_EQ(r.out.find("<0x02>"), std::string::npos) << "long arrays are summarized";
  // The tensor table: name, type, shape (innermost first), bytes.
  EXPECT_NE(r.out.find("blk.0.ffn_down.weight     q6_K     512 x 256"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("107520"), std::string::npos);
  // Totals: tensors, parameters, bytes, and the count per type.
  EXPECT_NE(r.out.find("total: 12 tensors, 721664 parameters, 467712 bytes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("q4_K         6 tensors         276480 bytes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("q6_K         3 tensors         188160 bytes"), std::string::npos) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(CliInspect, JsonFollowsTheContract) {
  const auto r = run_tandem("inspect --json " + kQ4KM);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("metadata"));
  ASSERT_TRUE(j.contains("tensors"));
  EXPECT_EQ(j["metadata"]["general.architecture"], "llama");
  EXPECT_EQ(j["metadata"]["llama.block_count"], 1);
  EXPECT_EQ(j["metadata"]["tokenizer.ggml.tokens"][1], "<s>");
  EXPECT_EQ(j["metadata"]["tokenizer.ggml.tokens"].size(), 256u);
  EXPECT_DOUBLE_EQ(j["metadata"]["llama.attention.layer_norm_rms_epsilon"].get<double>(), 1e-5);
  ASSERT_EQ(j["tensors"].size(), 12u);
  EXPECT_EQ(j.size(), 2u) << "exactly metadata and tensors";
  const auto file_size = std::filesystem::file_size(kQ4KM);
  bool found = false;
  for (const auto& t : j["tensors"]) {
    for (const char* k : {"name", "type", "shape", "offset", "bytes"}) ASSERT_TRUE(t.contains(k)) << k;
    EXPECT_EQ(t.size(), 5u);
    EXPECT_LE(t["offset"].get<uint64_t>() + t["bytes"].get<uint64_t>(), file_size);
    if (t["name"] == "blk.0.ffn_down.weight") {
      found = true;
      EXPECT_EQ(t["type"], "q6_K");
      EXPECT_EQ(t["shape"], nlohmann::json::array({512, 256}));
      EXPECT_EQ(t["bytes"], 512 / 256 * 210 * 256);
      // The absolute offset llama.cpp's gguf_init_from_file reports (the .llama.txt listing).
      EXPECT_EQ(t["offset"], 218848);
    }
  }
  EXPECT_TRUE(found);
}

TEST(CliInspect, BadFilesExitTwoWithOneLine) {
  const std::string dir = std::filesystem::temp_directory_path().string();
  const std::string truncated = dir + "/tandem-truncated-" + std::to_string(::getpid()) + ".gguf";
  {
    std::ifstream in(kQ4KM, std::ios::binary);
    std::vector<char> head(5000);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    std::ofstream(truncated, std::ios::binary).write(head.data(), static_cast<std::streamsize>(head.size()));
  }
  for (const std::string& path : {truncated, std::string("/etc/hostname"), std::string("/no/such/file.gguf")}) {
    const auto r = run_tandem("inspect " + path);
    EXPECT_EQ(r.exit_code, 2) << path;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
  }
  std::filesystem::remove(truncated);
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run_tandem("").exit_code, 2);
  EXPECT_EQ(run_tandem("no-such-command").exit_code, 2);
  EXPECT_EQ(run_tandem("inspect").exit_code, 2);
  const auto help = run_tandem("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("inspect"), std::string::npos);
  const auto version = run_tandem("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("tandem"), std::string::npos);
}

}  // namespace
}  // namespace tandem
