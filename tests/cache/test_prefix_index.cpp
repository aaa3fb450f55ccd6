// The prefix index's names and lookups: a name covers the seed and every token before and in
// the block, a hit needs the block's own tokens to match, and evicted blocks are forgotten.
#include <gtest/gtest.h>

#include <vector>

#include "cache/prefix_index.h"

namespace tandem::cache {
namespace {

TEST(PrefixIndex, NamesChainOverTheSeedAndEveryEarlierToken) {
  const std::vector<int32_t> a = {1, 2, 3, 4}, b = {5, 6, 7, 8};
  const uint64_t a0 = PrefixIndex::chain(7, a), b1 = PrefixIndex::chain(a0, b);
  EXPECT_EQ(PrefixIndex::chain(7, a), a0) << "deterministic";
  EXPECT_NE(PrefixIndex::chain(8, a), a0) << "another model, KV type or block size";
  EXPECT_NE(PrefixIndex::chain(PrefixIndex::chain(7, b), a), PrefixIndex::chain(a0, b))
      << "the same blocks in another order";
  const std::vector<int32_t> a_changed = {1, 2, 3, 9};
  EXPECT_NE(PrefixIndex::chain(PrefixIndex::chain(7, a_changed), b), b1) << "an earlier token changed";
  EXPECT_NE(PrefixIndex::chain(7, b), b1) << "the same block at another position";
}

TEST(PrefixIndex, AHitNeedsTheSameTokensAndEvictionForgets) {
  PrefixIndex index(1);
  const std::vector<int32_t> t = {10, 11, 12}, other = {10, 11, 13};
  const uint64_t h = PrefixIndex::chain(index.seed(), t);
  EXPECT_FALSE(index.find(h, t));
  EXPECT_TRUE(index.insert(0, h, t, 4));
  EXPECT_EQ(index.find(h, t), BlockId{4});
  EXPECT_FALSE(index.find(h, other)) << "a name collision is a miss, not a wrong block";
  EXPECT_FALSE(index.insert(0, h, t, 5)) << "the name is taken";
  EXPECT_FALSE(index.insert(0, PrefixIndex::chain(9, t), t, 4)) << "block 4 is indexed under another name";
  index.erase(4);
  EXPECT_FALSE(index.find(h, t));
  EXPECT_EQ(index.size(), 0u);
  index.erase(4);  // nothing
  EXPECT_TRUE(index.insert(0, h, t, 5));
}

// Partial entries: a lookup that matches all of an entry's tokens may write after them in place
// (`extends`); one matching fewer, or the start of a full block, must copy. An entry grows when
// the sequence that continued it ends in the same block, and gives way to a full entry of the
// block once that is filled.
TEST(PrefixIndex, PartialEntriesExtendGrowAndGiveWayToFullOnes) {
  PrefixIndex index(3);
  const uint64_t prev = index.seed();
  const std::vector<int32_t> start = {1, 20, 21}, longer = {1, 20, 21, 22, 23}, full = {1, 20, 21, 22, 23, 24, 25, 26};
  ASSERT_TRUE(index.insert_partial(prev, start, 6));
  const std::vector<int32_t> next = {1, 20, 21, 22};
  auto hit = index.find_partial(prev, next);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->block, BlockId{6});
  EXPECT_EQ(hit->n, 3);
  EXPECT_TRUE(hit->extends) << "all of the entry's tokens: the rows after them are free";
  hit = index.find_partial(prev, std::vector<int32_t>{1, 20, 99});
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->n, 2);
  EXPECT_FALSE(hit->extends) << "row 2 belongs to the entry";
  EXPECT_FALSE(index.find_partial(prev, std::vector<int32_t>{2, 20})) << "no leading token in common";
  EXPECT_FALSE(index.insert_partial(prev, std::vector<int32_t>{1, 30, 31}, 6)) << "not a continuation of the entry";
  EXPECT_TRUE(index.insert_partial(prev, longer, 6)) << "the continuing sequence ended in the same block";
  EXPECT_EQ(index.find_partial(prev, next)->n, 4);
  EXPECT_TRUE(index.insert(prev, PrefixIndex::chain(prev, full), full, 6)) << "the block was filled";
  hit = index.find_partial(prev, next);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->n, 4);
  EXPECT_FALSE(hit->extends) << "a full block's later rows belong to it";
  index.erase(6);
  EXPECT_FALSE(index.find_partial(prev, next));
}

}  // namespace
}  // namespace tandem::cache
