// Tensor parallelism (Megatron-style) as plain data: which slice of every matrix one rank of a
// group of `size` holds. Rank r keeps query heads, KV heads and feed-forward columns
// [r * n / size, (r + 1) * n / size) and a contiguous range of vocabulary rows of the output:
//   q, k, v, gate, up   split by output rows (heads, ff columns)   -> no communication
//   attn_output, down   split by input columns (the same heads / ff columns)
//                       -> partial sums, one all-reduce each per layer
//   output              split by vocabulary rows -> the logits are gathered
// so each rank reads and keeps about 1 / size of every matrix, and its KV cache holds only its
// own KV heads. With more ranks than KV heads (size a multiple of them), the query heads of a
// KV head are split over several ranks and each of those keeps a copy of the KV head.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/hparams.h"

namespace tandem::model {

struct Shard {
  int rank = 0, size = 1;           // tensor parallel: this rank among its stage's ranks
  int64_t head0 = 0, n_head = 0;    // query heads [head0, head0 + n_head)
  int64_t kv0 = 0, n_kv = 0;        // KV heads
  int64_t ff0 = 0, n_ff = 0;        // feed-forward columns
  int64_t vocab0 = 0, n_vocab = 0;  // output rows
  // Pipeline parallel: this stage of n_stages runs layers [layer0, layer0 + n_layer); the first
  // stage embeds the tokens, the last one computes the logits. n_layer < 0: every layer.
  int stage = 0, n_stages = 1;
  int64_t layer0 = 0, n_layer = -1;
  bool tensor_split() const { return size > 1; }
  bool whole() const { return size == 1 && n_stages == 1; }
  bool first_stage() const { return stage == 0; }
  bool last_stage() const { return stage == n_stages - 1; }
};

// The slice of rank `rank` of `size`. InputError when the model cannot be split that way (KV
// heads neither divisible by size nor dividing it, query heads or feed-forward width not
// divisible by size).
Shard make_shard(const HParams& hp, int rank, int size);

// Pipeline parallel: contiguous layer ranges for `stages` stages, balanced by cost: layer l
// costs layer_cost[l] (its weights' bytes: decode reads them all), the last stage also
// last_extra (the output matrix). Minimizes the largest stage's cost; every stage gets at least
// one layer. Returns the first layer of each stage and n_layer at the end ([stages + 1]).
// InputError when there are fewer layers than stages.
std::vector<int64_t> split_layers(std::span<const double> layer_cost, double last_extra, int stages);

// Sets the pipeline part of s: stage `stage` of the ranges from split_layers.
void set_stage(Shard& s, std::span<const int64_t> starts, int stage);

// Bytes the rank of shard s sends per token, by the usual algorithms (ring all-reduce: 2 (tp -
// 1) / tp of the data; all-gather: (tp - 1) times the rank's part; point to point: the data),
// for a step of `rows` tokens of which `logit_rows` want logits: two all-reduces of the hidden
// state per layer of its stage, one more for a vocabulary-split embedding table (tied output,
// one stage), the gathered logits on the last stage, the hidden state to the next stage, and the
// logits from the last stage to every rank (sent by the last stage's first rank).
double bytes_per_token(const HParams& hp, const Shard& s, int64_t rows, int64_t logit_rows);

// The hyper-parameters one rank computes with: its own heads, feed-forward width and layers
// (the vocabulary stays whole: logits are gathered).
HParams local_hparams(const HParams& hp, const Shard& s);

}  // namespace tandem::model
