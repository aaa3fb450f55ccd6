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

}  // namespace
}  // namespace tandem::cache
