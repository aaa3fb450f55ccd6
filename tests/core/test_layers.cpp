// The layer contract of docs/architecture.md, checked on the source tree: a file under src/X/
// may include only headers of the layers X is allowed to use.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
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

// The folder of a project include (`#include "kernels/quant.h"` -> "kernels"), else "".
std::string included_folder(const std::string& line) {
  size_t i = line.find_first_not_of(" \t");
  if (i == std::string::npos || line[i] != '#') return "";
  i = line.find_first_not_of(" \t", i + 1);
  if (i == std::string::npos || line.compare(i, 7, "include") != 0) return "";
  i = line.find('"', i + 7);
  if (i == std::string::npos) return "";
  const size_t slash = line.find('/', i + 1);
  const size_t close = line.find('"', i + 1);
  if (slash == std::string::npos || close == std::string::npos || slash > close) return "";
  return line.substr(i + 1, slash - i - 1);
}

TEST(Layers, IncludesRespectTheLayerContract) {
  const fs::path src = fs::path(TANDEM_SOURCE_DIR) / "src";
  ASSERT_TRUE(fs::is_directory(src)) << src;
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
      const std::string target = included_folder(line);
      if (target.empty()) continue;
      EXPECT_TRUE(allowed->second.count(target))
          << entry.path().string() << ":" << lineno << ": layer '" << layer
          << "' may not include '" << target << "/'";
    }
  }
  EXPECT_GT(files, 10);
}

}  // namespace
