// Writes GGUF files in the canonical layout llama.cpp writes: header, metadata in insertion
// order, tensor infos, zero padding to the alignment, then each tensor's data padded to the
// alignment. Reading a canonical file and writing it back gives the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "gguf/file.h"
#include "gguf/value.h"

namespace tandem::gguf {

class Writer {
 public:
  explicit Writer(uint32_t version = 3);

  // Sets a key (replacing an earlier value in place, so the order stays that of first use).
  // general.alignment must be a u32 power of two (InputError otherwise).
  void set(std::string key, Value v);
  // Adds a tensor. `ne` is innermost first; `data` is borrowed until write() and must hold
  // exactly the tensor's bytes. Names must be unique and shorter than 64 bytes (llama.cpp's
  // limit).
  void add_tensor(std::string name, DType type, std::span<const int64_t> ne,
                  std::span<const std::byte> data);

  // Starts from an existing file: its version, metadata and tensors (data borrowed from it).
  static Writer from(const File& f);

  // The size of the file write() makes, without making it.
  uint64_t file_size() const;
  // The whole file in memory (for tests and small files: this copies every tensor).
  std::vector<std::byte> to_bytes() const;
  // Writes to `path` through a temporary file that is synced and renamed into place. Streams:
  // tensor data goes from the borrowed spans to the file, never through one big buffer.
  void write(const std::string& path) const;

 private:
  // Everything before the data section's padding: header, metadata, tensor infos.
  std::vector<std::byte> head_bytes() const;
  // Calls bytes(span) and zeros(n) for the file's pieces in order.
  template <typename Bytes, typename Zeros>
  void emit(Bytes&& bytes, Zeros&& zeros) const;

  struct Tensor {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
    std::span<const std::byte> data;
  };
  size_t alignment() const;

  uint32_t version_;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace tandem::gguf
