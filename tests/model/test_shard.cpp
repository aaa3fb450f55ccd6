// The plain-data side of spreading a model over processes: which heads, columns and layers each
// rank gets, and the bytes it sends per token.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "model/shard.h"

namespace tandem::model {
namespace {

HParams llama(int64_t n_head, int64_t n_kv, int64_t n_layer = 4) {
  HParams hp;
  hp.n_embd = 64 * n_head;
  hp.n_head = n_head;
  hp.n_head_kv = n_kv;
  hp.head_dim_k = hp.head_dim_v = 64;
  hp.n_ff = 256;
  hp.n_layer = n_layer;
  hp.n_vocab = 1001;
  return hp;
}

TEST(Shard, RanksCoverEveryHeadColumnAndVocabularyRowOnce) {
  const HParams hp = llama(8, 4);
  int64_t heads = 0, kv = 0, ff = 0, vocab = 0;
  for (int r = 0; r < 4; ++r) {
    const Shard s = make_shard(hp, r, 4);
    EXPECT_EQ(s.head0, heads);
    EXPECT_EQ(s.kv0, kv);
    EXPECT_EQ(s.ff0, ff);
    EXPECT_EQ(s.vocab0, vocab);
    EXPECT_EQ(s.n_head / s.n_kv, 2) << "a rank keeps whole GQA groups";
    heads += s.n_head, kv += s.n_kv, ff += s.n_ff, vocab += s.n_vocab;
  }
  EXPECT_EQ(heads, 8);
  EXPECT_EQ(kv, 4);
  EXPECT_EQ(ff, 256);
  EXPECT_EQ(vocab, 1001);
}

TEST(Shard, MoreRanksThanKvHeadsShareACopyOfTheirKvHead) {
  const HParams hp = llama(8, 2);  // 4 query heads per KV head
  for (int r = 0; r < 8; ++r) {
    const Shard s = make_shard(hp, r, 8);
    EXPECT_EQ(s.n_head, 1);
    EXPECT_EQ(s.head0, r);
    EXPECT_EQ(s.n_kv, 1);
    EXPECT_EQ(s.kv0, r / 4) << "query head " << r << " reads KV head " << r / 4;
  }
  const HParams l = local_hparams(hp, make_shard(hp, 5, 8));
  EXPECT_EQ(l.n_head, 1);
  EXPECT_EQ(l.n_head_kv, 1);
}

TEST(Shard, SplitsThatDoNotDivideAreRefused) {
  EXPECT_THROW(make_shard(llama(8, 4), 0, 3), InputError);   // 3 divides neither 4 nor 8
  EXPECT_THROW(make_shard(llama(8, 2), 0, 16), InputError);  // more ranks than query heads
  EXPECT_NO_THROW(make_shard(llama(8, 4), 0, 8));
}

TEST(Shard, StagesAreContiguousAndBalancedByCost) {
  // Equal layers, no output cost: as even as possible.
  const std::vector<double> even(8, 1.0);
  EXPECT_EQ(split_layers(even, 0, 2), (std::vector<int64_t>{0, 4, 8}));
  EXPECT_EQ(split_layers(even, 0, 4), (std::vector<int64_t>{0, 2, 4, 6, 8}));
  // An output matrix worth two layers: the last stage takes fewer layers.
  EXPECT_EQ(split_layers(even, 2.0, 2), (std::vector<int64_t>{0, 5, 8}));
  // The split minimizes the largest stage (checked against every split of 6 layers in 3).
  const std::vector<double> cost = {3, 1, 4, 1, 5, 9};
  const auto got = split_layers(cost, 2.0, 3);
  auto worst = [&](int64_t a, int64_t b) {
    const double s0 = std::accumulate(cost.begin(), cost.begin() + a, 0.0);
    const double s1 = std::accumulate(cost.begin() + a, cost.begin() + b, 0.0);
    const double s2 = std::accumulate(cost.begin() + b, cost.end(), 0.0) + 2.0;
    return std::max({s0, s1, s2});
  };
  double best = 1e300;
  for (int64_t a = 1; a < 5; ++a)
    for (int64_t b = a + 1; b < 6; ++b) best = std::min(best, worst(a, b));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got.front(), 0);
  EXPECT_EQ(got.back(), 6);
  EXPECT_DOUBLE_EQ(worst(got[1], got[2]), best);
  EXPECT_THROW(split_layers(even, 0, 9), InputError);
}

TEST(Shard, StageSetsItsLayers) {
  const HParams hp = llama(8, 4, 8);
  Shard s = make_shard(hp, 0, 1);
  set_stage(s, split_layers(std::vector<double>(8, 1.0), 0, 2), 1);
  EXPECT_EQ(s.layer0, 4);
  EXPECT_EQ(s.n_layer, 4);
  EXPECT_TRUE(s.last_stage());
  EXPECT_FALSE(s.first_stage());
  EXPECT_FALSE(s.whole());
  EXPECT_EQ(local_hparams(hp, s).n_layer, 4);
  EXPECT_EQ(local_hparams(hp, s).n_head, 8) << "no tensor split";
}

TEST(Shard, BytesPerTokenByHand) {
  const HParams hp = llama(8, 4, 4);  // n_embd 512, vocab 1001
  // tp 2, one stage: 2 all-reduces per layer of 512 floats, ring 2 (2 - 1) / 2 = 1x the data:
  // 8 x 2048 bytes per row; all-gather of the largest shard (501 rows) once per logit row.
  const Shard t = make_shard(hp, 0, 2);
  EXPECT_DOUBLE_EQ(bytes_per_token(hp, t, 1, 1), 8 * 2048.0 + 501 * 4.0);
  EXPECT_DOUBLE_EQ(bytes_per_token(hp, t, 4, 1), 8 * 2048.0 + 501 * 4.0 / 4);
  // pp 2, stage 0: its 2 layers need no all-reduce; it sends the hidden state on (2048 bytes).
  Shard p = make_shard(hp, 0, 1);
  set_stage(p, std::vector<int64_t>{0, 2, 4}, 0);
  EXPECT_DOUBLE_EQ(bytes_per_token(hp, p, 1, 1), 2048.0);
  // The last stage's first rank sends the logits to everyone.
  set_stage(p, std::vector<int64_t>{0, 2, 4}, 1);
  EXPECT_DOUBLE_EQ(bytes_per_token(hp, p, 2, 1), 1001 * 4.0 / 2);
  EXPECT_EQ(bytes_per_token(hp, make_shard(hp, 0, 1), 1, 1), 0.0);
}

}  // namespace
}  // namespace tandem::model
