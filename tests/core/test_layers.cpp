// The layer contract of docs/architecture.md, checked on the source tree: a file under src/X/
// may include only headers of the layers X is allowed to use.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

namespace {

namespace fs = std::filesystem;

const std::map<std::string, std::set<std::string>> kAllowed = {
    {"core", {"core"}},
    {"kernels", {"core", "kernels"}},
    {"gguf", {"core", "gguf"}},
    {"model", {"core", "kernels", "gguf", "model"}},
    {"cache", {"core", "cache"}},
    {"parallel", {"core", "gguf", "parallel"}},
    {"engine", {"core", "kernels", "gguf", "model", "cache", "parallel", "engine"}},
    {"server", {"core", "kernels", "gguf", "model", "cache", "parallel", "engine", "server"}},
    {"plan", {"core", "gguf", "plan"}},
    {"cli", {"core", "kernels", "gguf", "model", "cache", "parallel", "engine", "server", "plan", "cli"}},
};

TEST(Layers, IncludesRespectTheLayerContract) {
  const fs::path src = fs::path(TANDEM_SOURCE_DIR) / "src";
  ASSERT_TRUE(fs::is_directory(src)) << src;
  const std::regex include_re(R"re(^\s*#\s*include\s*"([a-z_]+)/)re");
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(src)) {
    if (!entry.is_regular_file()) continue;
    const std::string ext = entry.path().extension().string();
    if (ext != ".cpp" && ext != ".h") continue;
    const std::string layer = fs::relative(entry.path(), src).begin()->string();
    auto allowed = kAllowed.find(layer);
    ASSERT_NE(allowed, kAllowed.end()) << "unknown layer folder src/" << layer;
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      std::smatch m;
      if (!std::regex_search(line, m, include_re)) continue;
      EXPECT_TRUE(allowed->second.count(m[1].str()))
          << entry.path().string() << ":" << lineno << ": layer '" << layer
          << "' may not include '" << m[1].str() << "/'";
    }
  }
  EXPECT_GT(files, 10);
}

}  // namespace
