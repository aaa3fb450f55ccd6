// A GGUF file opened for reading: metadata in file order, tensor infos, and views of the tensor
// data straight into the memory mapping. Every byte is treated as untrusted: a malformed file
// raises one InputError "<file>: <where>: <problem>" and never reads past the mapping or
// allocates more than the file could describe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "core/tensor.h"
#include "gguf/value.h"

namespace tandem::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr int kMaxArrayDepth = 8;      // nested arrays deeper than this are rejected
inline constexpr const char* kAlignmentKey = "general.alignment";

struct TensorInfo {
  std::string name;
  DType type = DType::F32;
  int n_dims = 0;
  std::array<int64_t, kMaxDims> ne{1, 1, 1, 1};  // innermost first, as stored
  uint64_t offset = 0;  // relative to the start of the data section
  uint64_t nbytes = 0;

  int64_t nelements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

class File {
 public:
  // Maps and validates `path`.
  static File open(const std::string& path);
  // Validates bytes already in memory (borrowed: they must outlive the File). `name` is used in
  // error messages in place of a path.
  static File parse(std::span<const std::byte> bytes, std::string name);

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  size_t data_offset() const { return data_offset_; }  // absolute offset of the data section
  size_t file_size() const { return bytes_.size(); }
  // The file's identity without reading its tensor data: xxhash of the bytes before the data
  // section (header, metadata, tensor table) and the size. Two files with equal digests hold
  // the same model as far as anything that reads them can tell, short of their weights' bytes.
  uint64_t digest() const;
  std::span<const std::byte> bytes() const { return bytes_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

  // The tensor's bytes inside the mapping (no copy).
  std::span<const std::byte> tensor_data(const TensorInfo& t) const;
  // A contiguous view of the tensor over the mapping. The view is read-only in spirit: the
  // mapping is private and read-only, so writing through it faults.
  TensorView view(const TensorInfo& t) const;
  // Drops the process's pages of the tensor's bytes once they have been copied (see
  // MappedFile::release); a no-op for a file parsed from borrowed memory.
  void release(const TensorInfo& t) const;
  // The same for the whole data section (every tensor), e.g. once every matrix is copied.
  void release_data() const;

 private:
  void parse_all();

  MappedFile map_;  // empty when parsing borrowed memory
  std::span<const std::byte> bytes_;
  std::string name_;
  uint32_t version_ = 0;
  size_t alignment_ = kDefaultAlignment;
  size_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::unordered_map<std::string, size_t> key_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace tandem::gguf
