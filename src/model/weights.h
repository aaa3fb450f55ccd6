// Weight binding: the one step that turns a GGUF file's tensors into what the forward pass
// reads. Every tensor the architecture declares is looked up by name here, its shape and type
// checked, and it is bound as a view into the memory-mapped file (matrices, embeddings) or as an
// f32 copy (vectors). Nothing else in the model looks tensors up by name, so a sharded or paged
// variant only has to bind differently.
#pragma once

#include <cstdint>
#include <vector>

#include "core/buffer.h"
#include "core/tensor.h"
#include "gguf/file.h"
#include "kernels/matmul.h"
#include "model/arch.h"
#include "model/shard.h"

namespace tandem::model {

struct LayerWeights {
  const float* attn_norm = nullptr;  // [n_embd]
  WeightMatrix wq, wk, wv;           // [q_width][n_embd], [k_width][n_embd], [v_width][n_embd]
  const float* bq = nullptr;         // [q_width] (qwen2), else null
  const float* bk = nullptr;         // [k_width]
  const float* bv = nullptr;         // [v_width]
  const float* q_norm = nullptr;     // [head_dim_k] (qwen3), else null
  const float* k_norm = nullptr;     // [head_dim_k]
  WeightMatrix wo;                   // [n_embd][n_head * head_dim_v]
  const float* ffn_norm = nullptr;   // [n_embd]
  WeightMatrix gate, up;             // [n_ff][n_embd]
  WeightMatrix down;                 // [n_embd][n_ff]
};

struct ModelWeights {
  WeightMatrix tok_embd;                // [n_vocab][n_embd], any dequantizable type (= output when tied)
  // The embedding table holds only the shard's vocabulary rows (a tied output under tensor
  // parallelism): a lookup yields zeros for other ids and is summed over the group.
  bool tok_embd_sharded = false;
  // The table as the file's tensor when lookups read it from the mapping (an embedding table of
  // its own): they drop its pages again (BatchForward::embed). Null otherwise.
  const gguf::TensorInfo* tok_embd_in_file = nullptr;
  const float* output_norm = nullptr;   // [n_embd]
  WeightMatrix output;                  // [n_vocab][n_embd] (the embedding table when tied); a shard: its rows
  const float* rope_freqs = nullptr;    // [n_rot / 2] or null
  std::vector<LayerWeights> layers;     // this stage's layers (all of them without a pipeline)
  std::vector<AlignedBuffer> owned;     // f32 vectors and matrices converted at load
  size_t mapped_bytes = 0;              // bytes of the file the forward pass reads
};

struct BindOptions {
  // Repack matrices whose type has a packed kernel at the active ISA level (kernels/packed.h)
  // into owned memory and drop their file pages; off: every matrix reads the mapping.
  bool repack = true;
  // Bind only this rank's part: its stage's layers, its slice of every matrix (model/shard.h);
  // whole by default.
  Shard shard;
};

// Binds every declared tensor; InputError naming file and tensor for a missing tensor, a wrong
// shape or a type tandem cannot use. Matrices of a type without a vec-dot kernel but with a
// dequantizer are converted to f16 once (logged).
// Matrices with a packed kernel are repacked (opts.repack), the embedding table too when it
// doubles as the output matrix (get_rows reads rows of the packed layout); an embedding table of
// its own stays mapped (only the looked-up rows are read).
ModelWeights bind_weights(const gguf::File& file, const HParams& hp,
                          const std::vector<TensorDecl>& decls, const BindOptions& opts = {});

}  // namespace tandem::model
