// Where keys and values live in a KV block: the layout the forward pass reads and writes. The
// blocks themselves come from elsewhere (the serving engine's paged pool, or one sequence's own
// buffer); the model layer only sees their addresses.
//
// A block holds block_tokens consecutive positions of one sequence, for every layer:
//   keys   [n_layer][block_tokens][n_head_kv * head_dim_k]   (rows in the KV dtype)
//   values [n_layer][block_tokens][n_head_kv * head_dim_v]
// Rows are by position, so a position is written once and never rewritten (q8_0 rows need all
// of a row's 32-element blocks at once, which a by-dimension layout cannot give).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace tandem::model {

struct HParams;

class KvLayout {
 public:
  // dtype: F16 (default), F32 or Q8_0 (head dims a multiple of 32). InputError otherwise.
  KvLayout(const HParams& hp, DType dtype, int64_t block_tokens);

  DType dtype() const { return dtype_; }
  int64_t block_tokens() const { return bt_; }
  size_t key_row_bytes() const { return key_row_; }
  size_t value_row_bytes() const { return value_row_; }
  size_t block_bytes() const { return static_cast<size_t>(n_layer_ * bt_) * (key_row_ + value_row_); }

  // The key row of slot s (position block_index * block_tokens + s) in one layer of a block.
  std::byte* key_row(std::byte* block, int64_t layer, int64_t slot) const {
    return block + static_cast<size_t>(layer * bt_ + slot) * key_row_;
  }
  std::byte* value_row(std::byte* block, int64_t layer, int64_t slot) const {
    return block + static_cast<size_t>(n_layer_ * bt_) * key_row_ +
           static_cast<size_t>(layer * bt_ + slot) * value_row_;
  }
  // Byte offset of a head inside a key / value row.
  size_t key_head_offset(int64_t head) const { return row_bytes(dtype_, head * hd_k_); }
  size_t value_head_offset(int64_t head) const { return row_bytes(dtype_, head * hd_v_); }

 private:
  DType dtype_;
  int64_t bt_, n_layer_, hd_k_, hd_v_;
  size_t key_row_, value_row_;
};

// Parses a KV cache type name ("f16", "f32", "q8_0"); InputError naming the choices otherwise.
DType parse_kv_type(const char* name);

}  // namespace tandem::model
