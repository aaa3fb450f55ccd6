#include "model/shard.h"

#include <algorithm>

#include "core/error.h"

namespace tandem::model {

Shard make_shard(const HParams& hp, int rank, int size) {
  TANDEM_CHECK(size >= 1 && rank >= 0 && rank < size, "rank {} of {}", rank, size);
  const int64_t group = hp.n_head / hp.n_head_kv;  // query heads per KV head
  const bool replicate = hp.n_head_kv % size != 0;
  if (replicate && (size % hp.n_head_kv != 0 || hp.n_head % size != 0))
    throw_input("--tp {}: the model's {} KV heads (and {} query heads) do not split over {} ranks: use a divisor of {} "
                "or a multiple of it that divides {}",
                size, hp.n_head_kv, hp.n_head, size, hp.n_head_kv, hp.n_head);
  if (hp.n_ff % size != 0)
    throw_input("--tp {}: the feed-forward width {} does not split into {} equal parts", size, hp.n_ff, size);
  Shard s;
  s.rank = rank;
  s.size = size;
  if (!replicate) {
    s.n_kv = hp.n_head_kv / size;
    s.kv0 = rank * s.n_kv;
    s.n_head = s.n_kv * group;
    s.head0 = s.kv0 * group;
  } else {
    // More ranks than KV heads: each rank takes an equal part of one KV head's query heads and
    // keeps a copy of that KV head (its keys and values are computed on every rank sharing it).
    s.n_head = hp.n_head / size;
    s.head0 = rank * s.n_head;
    s.n_kv = 1;
    s.kv0 = s.head0 / group;
  }
  s.n_ff = hp.n_ff / size;
  s.ff0 = rank * s.n_ff;
  s.vocab0 = hp.n_vocab * rank / size;
  s.n_vocab = hp.n_vocab * (rank + 1) / size - s.vocab0;
  return s;
}

HParams local_hparams(const HParams& hp, const Shard& s) {
  HParams l = hp;
  if (s.tensor_split()) {
    l.n_head = s.n_head;
    l.n_head_kv = s.n_kv;
    l.n_ff = s.n_ff;
  }
  if (s.n_layer >= 0) l.n_layer = s.n_layer;
  return l;
}

std::vector<int64_t> split_layers(std::span<const double> layer_cost, double last_extra, int stages) {
  const auto L = static_cast<int64_t>(layer_cost.size());
  TANDEM_CHECK(stages >= 1, "{} pipeline stages", stages);
  if (L < stages) throw_input("--pp {}: the model has only {} layers; use at most {} stages", stages, L, L);
  // best[s][l]: the smallest possible largest cost when layers [0, l) form stages [0, s);
  // from[s][l]: where stage s - 1 starts in that split. The last stage carries last_extra.
  std::vector<double> prefix(static_cast<size_t>(L + 1), 0.0);
  for (int64_t l = 0; l < L; ++l) prefix[static_cast<size_t>(l + 1)] = prefix[static_cast<size_t>(l)] + layer_cost[static_cast<size_t>(l)];
  const auto S = static_cast<size_t>(stages);
  const double inf = 1e300;
  std::vector<std::vector<double>> best(S + 1, std::vector<double>(static_cast<size_t>(L + 1), inf));
  std::vector<std::vector<int64_t>> from(S + 1, std::vector<int64_t>(static_cast<size_t>(L + 1), 0));
  best[0][0] = 0;
  for (size_t s = 1; s <= S; ++s)
    for (int64_t l = static_cast<int64_t>(s); l <= L; ++l)
      for (int64_t b = static_cast<int64_t>(s) - 1; b < l; ++b) {
        double cost = prefix[static_cast<size_t>(l)] - prefix[static_cast<size_t>(b)];
        if (s == S) cost += last_extra;
        const double worst = std::max(best[s - 1][static_cast<size_t>(b)], cost);
        if (worst < best[s][static_cast<size_t>(l)]) {
          best[s][static_cast<size_t>(l)] = worst;
          from[s][static_cast<size_t>(l)] = b;
        }
      }
  std::vector<int64_t> starts(S + 1);
  starts[S] = L;
  for (size_t s = S; s >= 1; --s) starts[s - 1] = from[s][static_cast<size_t>(starts[s])];
  return starts;
}

void set_stage(Shard& s, std::span<const int64_t> starts, int stage) {
  TANDEM_CHECK(stage >= 0 && static_cast<size_t>(stage) + 1 < starts.size(), "stage {} of {}", stage, starts.size() - 1);
  s.stage = stage;
  s.n_stages = static_cast<int>(starts.size()) - 1;
  s.layer0 = starts[static_cast<size_t>(stage)];
  s.n_layer = starts[static_cast<size_t>(stage) + 1] - s.layer0;
}

}  // namespace tandem::model

namespace tandem::model {

double bytes_per_token(const HParams& hp, const Shard& s, int64_t rows, int64_t logit_rows) {
  if (s.whole() || rows <= 0) return 0;
  const double E = static_cast<double>(hp.n_embd), tp = s.size;
  const double layers = static_cast<double>(s.n_layer < 0 ? hp.n_layer : s.n_layer);
  double per_row = 0, per_step = 0;
  if (s.tensor_split()) {
    const double ring = 2.0 * (tp - 1) / tp * 4.0 * E;
    const bool sharded_table = hp.tied_output && s.n_stages == 1;
    per_row += (2.0 * layers + (sharded_table ? 1 : 0)) * ring;
    if (s.last_stage()) {
      const double shard_vocab = static_cast<double>((hp.n_vocab + s.size - 1) / s.size);
      per_step += (tp - 1) * 4.0 * shard_vocab * static_cast<double>(logit_rows);
    }
  }
  if (!s.last_stage()) per_row += 4.0 * E;
  if (s.n_stages > 1 && s.last_stage() && s.rank == 0)
    per_step += 4.0 * static_cast<double>(hp.n_vocab) * static_cast<double>(logit_rows);
  return per_row + per_step / static_cast<double>(rows);
}

}  // namespace tandem::model
