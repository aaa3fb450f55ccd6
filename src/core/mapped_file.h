// A read-only memory mapping of a whole file. Tensor views point into it without copying.
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace tandem {

class MappedFile {
 public:
  // Maps `path` read-only; throws InputError naming the path and the OS error.
  static MappedFile open(const std::string& path);

  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  // Drops this process's pages of [p, p + n) (whole pages inside the range only): the bytes
  // stay readable (they fault in again from the page cache) but stop counting in the RSS.
  // For data that has been copied elsewhere, e.g. weights repacked at load.
  void release(const std::byte* p, size_t n) const;

 private:
  std::byte* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace tandem
