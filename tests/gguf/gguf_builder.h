// Builds GGUF bytes field by field, so tests can make every kind of broken file on purpose.
// Independent of tandem's writer: a bug there cannot hide a bug in the reader.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace tandem::test {

struct RawTensor {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type = 0;  // f32
  uint64_t offset = 0;
};

struct RawGguf {
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  std::vector<std::vector<uint8_t>> kvs;  // raw key-value records
  std::vector<RawTensor> tensors;
  uint64_t n_tensors_override = UINT64_MAX;
  uint64_t n_kv_override = UINT64_MAX;
  size_t alignment = 32;
  size_t data_bytes = 0;  // bytes of tensor data after the aligned header

  static void put_u32(std::vector<uint8_t>& b, uint32_t v) { append(b, &v, 4); }
  static void put_u64(std::vector<uint8_t>& b, uint64_t v) { append(b, &v, 8); }
  static void put_str(std::vector<uint8_t>& b, const std::string& s) {
    put_u64(b, s.size());
    append(b, s.data(), s.size());
  }
  static void append(std::vector<uint8_t>& b, const void* p, size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    b.insert(b.end(), c, c + n);
  }

  // A key with a u32 value.
  void kv_u32(const std::string& key, uint32_t v) {
    std::vector<uint8_t> r;
    put_str(r, key);
    put_u32(r, 4);
    put_u32(r, v);
    kvs.push_back(r);
  }
  void kv_str(const std::string& key, const std::string& v) {
    std::vector<uint8_t> r;
    put_str(r, key);
    put_u32(r, 8);
    put_str(r, v);
    kvs.push_back(r);
  }

  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> b;
    put_u32(b, magic);
    put_u32(b, version);
    put_u64(b, n_tensors_override != UINT64_MAX ? n_tensors_override : tensors.size());
    put_u64(b, n_kv_override != UINT64_MAX ? n_kv_override : kvs.size());
    for (const auto& kv : kvs) b.insert(b.end(), kv.begin(), kv.end());
    for (const RawTensor& t : tensors) {
      put_str(b, t.name);
      put_u32(b, static_cast<uint32_t>(t.dims.size()));
      for (uint64_t d : t.dims) put_u64(b, d);
      put_u32(b, t.type);
      put_u64(b, t.offset);
    }
    while (b.size() % alignment != 0) b.push_back(0);
    for (size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<uint8_t>(i * 7));
    return b;
  }
};

// A small valid file: two f32 tensors [8] and [4 x 2] with two keys.
inline RawGguf valid_raw() {
  RawGguf g;
  g.kv_str("general.architecture", "test");
  g.kv_u32("test.n", 7);
  g.tensors.push_back({"a", {8}, 0, 0});
  g.tensors.push_back({"b", {4, 2}, 0, 32});
  g.data_bytes = 64;
  return g;
}

}  // namespace tandem::test
