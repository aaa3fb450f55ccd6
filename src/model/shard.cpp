#include "model/shard.h"

#include "core/error.h"

namespace tandem::model {

Shard make_shard(const HParams& hp, int rank, int size) {
  TANDEM_CHECK(size >= 1 && rank >= 0 && rank < size, "rank {} of {}", rank, size);
  if (hp.n_head_kv % size != 0)
    throw_input("--tp {}: the model's {} KV heads do not split into {} equal parts (use a divisor of {})", size,
                hp.n_head_kv, size, hp.n_head_kv);
  if (hp.n_ff % size != 0)
    throw_input("--tp {}: the feed-forward width {} does not split into {} equal parts", size, hp.n_ff, size);
  Shard s;
  s.rank = rank;
  s.size = size;
  s.n_kv = hp.n_head_kv / size;
  s.kv0 = rank * s.n_kv;
  const int64_t group = hp.n_head / hp.n_head_kv;
  s.n_head = s.n_kv * group;
  s.head0 = s.kv0 * group;
  s.n_ff = hp.n_ff / size;
  s.ff0 = rank * s.n_ff;
  s.vocab0 = hp.n_vocab * rank / size;
  s.n_vocab = hp.n_vocab * (rank + 1) / size - s.vocab0;
  return s;
}

HParams local_hparams(const HParams& hp, const Shard& s) {
  HParams l = hp;
  l.n_head = s.n_head;
  l.n_head_kv = s.n_kv;
  l.n_ff = s.n_ff;
  return l;
}

}  // namespace tandem::model

namespace tandem::model {

double tp_bytes_per_token(const HParams& hp, int size, int64_t rows, int64_t logit_rows) {
  if (size <= 1 || rows <= 0) return 0;
  const double ring = 2.0 * (size - 1) / size * 4.0 * static_cast<double>(hp.n_embd);  // per row
  const double reduces = 2.0 * static_cast<double>(hp.n_layer) + (hp.tied_output ? 1 : 0);
  const double shard_vocab = static_cast<double>((hp.n_vocab + size - 1) / size);
  const double gather = static_cast<double>(size - 1) * 4.0 * shard_vocab * static_cast<double>(logit_rows);
  return reduces * ring + gather / static_cast<double>(rows);
}

}  // namespace tandem::model
