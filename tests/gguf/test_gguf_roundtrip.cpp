#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <vector>

#include "core/error.h"
#include "gguf/file.h"
#include "gguf/writer.h"
#include "gguf_builder.h"

namespace tandem {
namespace {

using gguf::Array;
using gguf::Value;
using gguf::ValueType;

Array array_of(ValueType t, std::vector<Value> items) { return Array{t, std::move(items)}; }

// One key of every value type, including arrays of arrays and an empty array.
gguf::Writer every_type_writer(uint32_t version) {
  gguf::Writer w(version);
  w.set("u8", uint8_t{200});
  w.set("i8", int8_t{-100});
  w.set("u16", uint16_t{60000});
  w.set("i16", int16_t{-30000});
  w.set("u32", uint32_t{4000000000u});
  w.set("i32", int32_t{-2000000000});
  w.set("f32", 3.25f);
  w.set("bool", true);
  w.set("str", std::string("héllo\nworld"));
  w.set("u64", uint64_t{18000000000000000000ull});
  w.set("i64", int64_t{-9000000000000000000ll});
  w.set("f64", -1.0e300);
  w.set("arr.f32", array_of(ValueType::F32, {1.5f, -2.5f, std::numeric_limits<float>::infinity()}));
  w.set("arr.str", array_of(ValueType::String, {std::string("a"), std::string(""), std::string("ccc")}));
  w.set("arr.empty", array_of(ValueType::I64, {}));
  w.set("arr.nested", array_of(ValueType::Array,
                               {array_of(ValueType::U8, {uint8_t{1}, uint8_t{2}}),
                                array_of(ValueType::Array, {array_of(ValueType::Bool, {false})})}));
  return w;
}

TEST(GgufRoundTrip, EveryValueTypeSurvives) {
  for (uint32_t version : {2u, 3u}) {
    const gguf::Writer w = every_type_writer(version);
    const std::vector<std::byte> bytes = w.to_bytes();
    const gguf::File f = gguf::File::parse(bytes, "mem.gguf");
    EXPECT_EQ(f.version(), version);
    ASSERT_EQ(f.metadata().size(), 16u);
    EXPECT_EQ(*f.find("u8")->get<uint8_t>(), 200);
    EXPECT_EQ(*f.find("i16")->get<int16_t>(), -30000);
    EXPECT_EQ(*f.find("u64")->get<uint64_t>(), 18000000000000000000ull);
    EXPECT_EQ(*f.find("i64")->as_int(), -9000000000000000000ll);
    EXPECT_EQ(*f.find("f64")->get<double>(), -1.0e300);
    EXPECT_EQ(*f.find("str")->as_string(), "héllo\nworld");
    EXPECT_TRUE(*f.find("bool")->get<bool>());
    const Array* nested = f.find("arr.nested")->as_array();
    ASSERT_NE(nested, nullptr);
    EXPECT_EQ(nested->type, ValueType::Array);
    EXPECT_EQ(nested->items[1].as_array()->items[0].as_array()->type, ValueType::Bool);
    EXPECT_EQ(f.find("arr.empty")->as_array()->type, ValueType::I64);
    EXPECT_TRUE(std::isinf(*f.find("arr.f32")->as_array()->items[2].get<float>()));
    // Values compare equal to what was written, in the same order.
    EXPECT_EQ(f.metadata()[12].first, "arr.f32");
    // Writing the parsed file again gives the same bytes.
    EXPECT_EQ(gguf::Writer::from(f).to_bytes(), bytes);
  }
}

TEST(GgufRoundTrip, TensorsAlignedAndViewedInPlace) {
  std::vector<float> a(64);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5f;
  std::vector<std::byte> q(2 * 34);  // two q8_0 blocks
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<std::byte>(i * 13);
  for (uint32_t align : {32u, 64u, 4096u}) {
    gguf::Writer w;
    w.set("general.alignment", align);
    const int64_t a_shape[] = {16, 4};
    const int64_t q_shape[] = {64};
    w.add_tensor("a", DType::F32, a_shape, std::as_bytes(std::span(a)));
    w.add_tensor("q", DType::Q8_0, q_shape, q);
    const auto bytes = w.to_bytes();
    const gguf::File f = gguf::File::parse(bytes, "mem.gguf");
    ASSERT_EQ(f.alignment(), align);
    EXPECT_EQ(f.data_offset() % align, 0u);
    const gguf::TensorInfo* ta = f.find_tensor("a");
    const gguf::TensorInfo* tq = f.find_tensor("q");
    ASSERT_TRUE(ta && tq);
    EXPECT_EQ(tq->offset % align, 0u);
    EXPECT_EQ(tq->nbytes, 68u);
    const TensorView va = f.view(*ta);
    EXPECT_EQ(va.ne[0], 16);
    EXPECT_EQ(va.ne[1], 4);
    EXPECT_EQ(va.nb[1], 64u);
    // The view points into the buffer itself: no copy.
    EXPECT_EQ(static_cast<const std::byte*>(va.data), bytes.data() + f.data_offset() + ta->offset);
    EXPECT_EQ(va.row<float>(3)[5], a[3 * 16 + 5]);
    EXPECT_EQ(std::memcmp(f.tensor_data(*tq).data(), q.data(), q.size()), 0);
    EXPECT_EQ(gguf::Writer::from(f).to_bytes(), bytes);
  }
}

TEST(GgufRoundTrip, WriteToDiskAndMap) {
  const auto path = std::filesystem::temp_directory_path() / "tandem-roundtrip.gguf";
  const gguf::Writer w = every_type_writer(3);
  w.write(path.string());
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  const gguf::File f = gguf::File::open(path.string());
  EXPECT_EQ(f.file_size(), std::filesystem::file_size(path));
  EXPECT_EQ(gguf::Writer::from(f).to_bytes(), w.to_bytes());
  std::filesystem::remove(path);
}

// write() streams (padding included) and makes exactly the bytes to_bytes() describes.
TEST(GgufWriter, StreamedFileEqualsInMemoryBytes) {
  const auto dir = std::filesystem::temp_directory_path();
  std::vector<std::byte> q(34 * 3);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<std::byte>(i);
  const int64_t shape[] = {32, 3};
  for (uint32_t align : {32u, 1u << 20}) {
    gguf::Writer w(2);
    w.set("general.alignment", align);
    w.add_tensor("q", DType::Q8_0, shape, q);
    w.add_tensor("r", DType::Q8_0, shape, q);
    const auto bytes = w.to_bytes();
    EXPECT_EQ(w.file_size(), bytes.size());
    EXPECT_EQ(bytes.size() % align, 0u);
    const auto path = dir / ("tandem-stream-" + std::to_string(align) + ".gguf");
    w.write(path.string());
    ASSERT_EQ(std::filesystem::file_size(path), bytes.size());
    std::ifstream in(path, std::ios::binary);
    std::vector<char> disk(bytes.size());
    in.read(disk.data(), static_cast<std::streamsize>(disk.size()));
    EXPECT_EQ(std::memcmp(disk.data(), bytes.data(), bytes.size()), 0);
    const gguf::File f = gguf::File::open(path.string());
    EXPECT_EQ(f.version(), 2u);
    EXPECT_EQ(f.find_tensor("r")->offset, (102 + align - 1) / align * align);  // q, padded
    std::filesystem::remove(path);
  }
}

// Found by the fuzzer: a small metadata-only file may declare alignment 2^29. It is valid;
// its canonical rewrite is 512 MiB of padding, which file_size() reports without building it.
TEST(GgufWriter, HugeAlignmentIsSizedNotBuilt) {
  test::RawGguf g;
  g.kv_u32("general.alignment", uint32_t{1} << 29);
  g.alignment = 1;  // no padding after the header: with no tensors none is needed
  const auto raw = g.bytes();
  const gguf::File f = gguf::File::parse(std::as_bytes(std::span(raw)), "mem.gguf");
  EXPECT_EQ(f.alignment(), size_t{1} << 29);
  EXPECT_EQ(gguf::Writer::from(f).file_size(), uint64_t{1} << 29);
}

TEST(GgufWriter, FailedWriteLeavesNoFile) {
  const gguf::Writer w = every_type_writer(3);
  EXPECT_THROW(w.write("/nonexistent-dir/x.gguf"), RuntimeError);
  EXPECT_FALSE(std::filesystem::exists("/nonexistent-dir/x.gguf.tmp"));
}

TEST(GgufWriter, RejectsBadTensors) {
  gguf::Writer w;
  std::vector<std::byte> data(10);
  const int64_t shape[] = {8};
  EXPECT_THROW(w.add_tensor("t", DType::F32, shape, data), InputError);  // needs 32 bytes
  const int64_t partial[] = {16};
  std::vector<std::byte> q(34);
  EXPECT_THROW(w.add_tensor("t", DType::Q8_0, partial, q), InputError);  // half a block
  EXPECT_THROW(w.add_tensor(std::string(64, 'x'), DType::F32, shape, data), InputError);
  EXPECT_THROW(w.set("general.alignment", uint32_t{48}), InputError);
  EXPECT_THROW(w.set("general.alignment", int32_t{32}), InputError);
}

}  // namespace
}  // namespace tandem
