// A validating reader of .safetensors files (Hugging Face checkpoints): an 8-byte little-endian
// header size, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then
// the tensor bytes. The file is memory-mapped; tensors are views into it. Every byte is
// untrusted: a malformed file raises one InputError naming the file, the tensor and the problem.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace tandem::model {

struct SafeTensor {
  std::string name;
  DType dtype = DType::F32;     // F32, F16 or BF16
  std::vector<int64_t> shape;   // outermost first, as PyTorch writes it
  std::span<const std::byte> data;
  int64_t nelements() const;
};

class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::string& path);
  // The same checks over bytes in memory (the fuzz target uses this).
  static SafetensorsFile parse(std::span<const std::byte> bytes, const std::string& name);

  const std::vector<SafeTensor>& tensors() const { return tensors_; }
  const std::string& name() const { return name_; }

 private:
  MappedFile file_;
  std::string name_;
  std::vector<SafeTensor> tensors_;
};

// A checkpoint directory: model.safetensors, or the shards named by
// model.safetensors.index.json, or every *.safetensors file. Tensor names must be unique.
class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& dir);
  const SafeTensor* find(const std::string& name) const;
  const std::map<std::string, const SafeTensor*>& all() const { return by_name_; }

 private:
  std::vector<SafetensorsFile> files_;
  std::map<std::string, const SafeTensor*> by_name_;
};

}  // namespace tandem::model
