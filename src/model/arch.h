// Architectures: each family declares, in its own file (arch_<name>.cpp), how to read its
// hyper-parameters and which tensors it has; they are registered in one table (arch.cpp).
// The forward pass (forward.cpp) is shared by the Llama family and reads the feature flags in
// HParams (q/k/v biases, q/k norms, tied output), so no code path asks "which arch is this?".
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/hparams.h"
#include "model/metadata.h"

namespace tandem::model {

// How a tensor is used, which decides the types it may have.
enum class TensorRole : uint8_t {
  Matrix,     // multiplied by activations: needs a vec-dot kernel (or is converted at load)
  Embedding,  // rows looked up by token id: any type that dequantizes
  Vector,     // norms, biases, frequency factors: converted to f32 at load
};

struct TensorDecl {
  std::string name;
  std::array<int64_t, 2> ne{1, 1};  // GGUF order: ne[0] innermost; vectors have ne[1] == 1
  TensorRole role = TensorRole::Matrix;
  bool optional = false;
};

struct ArchSpec {
  std::string_view name;
  // Fills the family's hyper-parameters (the common Llama-family keys are read before).
  void (*read_hparams)(const Metadata& meta, HParams& hp);
  // Appends the tensors a model with these hyper-parameters has.
  void (*declare_tensors)(const HParams& hp, std::vector<TensorDecl>& out);
};

// The registered architecture of that general.architecture name, or null.
const ArchSpec* find_arch(std::string_view name);
std::string arch_names();  // "llama, qwen2, qwen3", for error messages

// Reads general.architecture and every hyper-parameter; InputError for an unknown
// architecture or a missing / inconsistent key.
HParams read_hparams(const Metadata& meta);
std::vector<TensorDecl> declare_tensors(const HParams& hp);

// Shared by the Llama-family files.
void read_llama_family(const Metadata& meta, HParams& hp);
void declare_llama_family(const HParams& hp, std::vector<TensorDecl>& out);

}  // namespace tandem::model
