// The safetensors reader on valid and broken files: every problem is one InputError that names
// the file and, where there is one, the tensor.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "model/safetensors.h"

namespace tandem::model {
namespace {

std::vector<std::byte> file(const std::string& header, size_t data_bytes, int64_t claimed = -1) {
  std::vector<std::byte> out(8 + header.size() + data_bytes);
  const uint64_t n = claimed >= 0 ? static_cast<uint64_t>(claimed) : header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

std::string error_of(const std::vector<std::byte>& bytes) {
  try {
    SafetensorsFile::parse(bytes, "x.safetensors");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, ReadsTensors) {
  const auto f = SafetensorsFile::parse(
      file(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
           R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}})", 32),
      "x.safetensors");
  ASSERT_EQ(f.tensors().size(), 2u);
  const auto& a = f.tensors()[0].name == "a" ? f.tensors()[0] : f.tensors()[1];
  EXPECT_EQ(a.dtype, DType::F32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.data.size(), 24u);
}

TEST(Safetensors, BrokenFilesAreOneClearError) {
  const std::pair<std::vector<std::byte>, const char*> cases[] = {
      {std::vector<std::byte>(5), "too short"},
      {file("{}", 0, 1000), "does not fit"},
      {file("{not json", 0), "not valid JSON"},
      {file("[1,2]", 0), "not a JSON object"},
      {file(R"({"t":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8), "F64"},
      {file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4), "needs 8"},
      {file(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", 4), "outside"},
      {file(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4), "outside"},
      {file(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "non-size"},
      {file(R"({"t":{"dtype":"F32","shape":[1]}})", 4), "data_offsets"},
      {file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12), "overlap"},
      {file(R"({"t":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}})", 4), "too large"},
  };
  for (const auto& [bytes, expect] : cases) {
    const std::string e = error_of(bytes);
    EXPECT_NE(e.find(expect), std::string::npos) << "got: " << e;
    EXPECT_NE(e.find("x.safetensors"), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace tandem::model
