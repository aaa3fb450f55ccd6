// Tensor parallelism (Megatron-style) as plain data: which slice of every matrix one rank of a
// group of `size` holds. Rank r keeps query heads, KV heads and feed-forward columns
// [r * n / size, (r + 1) * n / size) and a contiguous range of vocabulary rows of the output:
//   q, k, v, gate, up   split by output rows (heads, ff columns)   -> no communication
//   attn_output, down   split by input columns (the same heads / ff columns)
//                       -> partial sums, one all-reduce each per layer
//   output              split by vocabulary rows -> the logits are gathered
// so each rank reads and keeps about 1 / size of every matrix, and its KV cache holds only its
// own KV heads.
#pragma once

#include <cstdint>

#include "model/hparams.h"

namespace tandem::model {

struct Shard {
  int rank = 0, size = 1;
  int64_t head0 = 0, n_head = 0;    // query heads [head0, head0 + n_head)
  int64_t kv0 = 0, n_kv = 0;        // KV heads
  int64_t ff0 = 0, n_ff = 0;        // feed-forward columns
  int64_t vocab0 = 0, n_vocab = 0;  // output rows
  bool whole() const { return size == 1; }
};

// The slice of rank `rank` of `size`. InputError when the model cannot be split that way (KV
// heads or feed-forward width not divisible by size).
Shard make_shard(const HParams& hp, int rank, int size);

// Bytes each rank sends per token under tensor parallelism over `size` ranks, by the usual
// algorithms (ring all-reduce: 2 (size - 1) / size of the data; all-gather: (size - 1) times the
// rank's part), for a step of `rows` tokens of which `logit_rows` want logits: two all-reduces
// of the hidden state per layer, one more for a vocabulary-split embedding table (tied output),
// and the gathered logits.
double tp_bytes_per_token(const HParams& hp, int size, int64_t rows, int64_t logit_rows);

// The hyper-parameters one rank computes with: its own heads and feed-forward width (the
// vocabulary stays whole: logits are gathered).
HParams local_hparams(const HParams& hp, const Shard& s);

}  // namespace tandem::model
