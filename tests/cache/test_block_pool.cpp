// The paged KV cache's block pool and block tables: allocation until exhaustion, reference
// counts, sharing by fork and copy-on-write at the first divergent write, truncation, and that
// every path gives all blocks back.
#include <gtest/gtest.h>

#include <algorithm>

#include <cstring>
#include <set>

#include "cache/block_pool.h"
#include "cache/block_table.h"
#include "core/error.h"

namespace tandem::cache {
namespace {

// Writes `value` into row `pos % block_tokens` of the block that holds position pos (one byte
// per row: enough to see which copy a sequence reads).
void write_pos(BlockPool& pool, const BlockTable& t, int64_t pos, uint8_t value) {
  const BlockId b = t.blocks()[static_cast<size_t>(pos / pool.block_tokens())];
  pool.data(b)[pos % pool.block_tokens()] = std::byte{value};
}
uint8_t read_pos(const BlockPool& pool, const BlockTable& t, int64_t pos) {
  const BlockId b = t.blocks()[static_cast<size_t>(pos / pool.block_tokens())];
  return static_cast<uint8_t>(pool.data(b)[pos % pool.block_tokens()]);
}

TEST(BlockPool, AllocatesUntilExhaustedAndReusesFreedBlocks) {
  BlockPool pool(4, 100, 16);
  EXPECT_EQ(pool.block_bytes(), 128u);  // rounded up to 64
  std::set<BlockId> got;
  for (int i = 0; i < 4; ++i) {
    const auto b = pool.allocate();
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(pool.refs(*b), 1);
    got.insert(*b);
  }
  EXPECT_EQ(got.size(), 4u);
  EXPECT_EQ(pool.free_blocks(), 0);
  EXPECT_FALSE(pool.allocate().has_value());
  pool.release(2);
  EXPECT_EQ(pool.free_blocks(), 1);
  EXPECT_EQ(pool.allocate(), std::optional<BlockId>(2));  // the block just freed comes back first
  // Distinct blocks do not overlap.
  EXPECT_EQ(pool.data(1) - pool.data(0), static_cast<ptrdiff_t>(pool.block_bytes()));
}

TEST(BlockPool, ReferenceCounts) {
  BlockPool pool(2, 64, 8);
  const BlockId b = *pool.allocate();
  pool.retain(b);
  pool.retain(b);
  EXPECT_EQ(pool.refs(b), 3);
  pool.release(b);
  pool.release(b);
  EXPECT_EQ(pool.free_blocks(), 1);  // still held once
  pool.release(b);
  EXPECT_EQ(pool.free_blocks(), 2);
  EXPECT_EQ(pool.refs(b), 0);
}

TEST(BlockPool, MisuseIsCaught) {
  BlockPool pool(2, 64, 8);
  EXPECT_ANY_THROW(pool.release(0));  // free block
  EXPECT_ANY_THROW(pool.retain(5));   // outside the pool
  EXPECT_ANY_THROW(pool.data(-1));
  EXPECT_THROW(BlockPool(0, 64, 8), InputError);
  EXPECT_THROW(BlockPool(4, 64, 0), InputError);
  EXPECT_THROW(BlockPool(4, 0, 16), InputError);
  EXPECT_EQ(BlockPool::blocks_for_bytes(1000, 100), 7);  // 128-byte blocks
}

TEST(BlockTable, AppendAllocatesWholeBlocksAndFailsAtomically) {
  BlockPool pool(3, 64, 4);
  BlockTable t;
  EXPECT_EQ(t.blocks_needed(pool, 5), 2);
  ASSERT_TRUE(t.append(pool, 5));  // positions 0-4: two blocks
  EXPECT_EQ(t.n_tokens(), 5);
  EXPECT_EQ(t.blocks().size(), 2u);
  ASSERT_TRUE(t.append(pool, 3));  // 5-7 fit in the second block
  EXPECT_EQ(t.blocks().size(), 2u);
  EXPECT_EQ(pool.free_blocks(), 1);
  EXPECT_EQ(t.blocks_needed(pool, 5), 2);
  EXPECT_FALSE(t.append(pool, 5));  // needs 2, 1 free: nothing changes
  EXPECT_EQ(t.n_tokens(), 8);
  EXPECT_EQ(pool.free_blocks(), 1);
  t.release(pool);
  EXPECT_EQ(pool.free_blocks(), 3);
  EXPECT_EQ(t.n_tokens(), 0);
}

TEST(BlockTable, ForkSharesAndCopiesOnTheFirstDivergentWrite) {
  BlockPool pool(8, 64, 4);
  BlockTable a;
  ASSERT_TRUE(a.append(pool, 6));  // blocks: [0-3] full, [4-5] partial
  for (int64_t p = 0; p < 6; ++p) write_pos(pool, a, p, static_cast<uint8_t>(10 + p));
  BlockTable b = a.fork(pool, 6);
  EXPECT_EQ(b.blocks(), a.blocks());
  EXPECT_EQ(pool.used_blocks(), 2);
  EXPECT_EQ(pool.refs(a.blocks()[0]), 2);

  // b writes position 6, inside the shared partial block: it gets a private copy of it.
  EXPECT_EQ(b.blocks_needed(pool, 1), 1);
  ASSERT_TRUE(b.append(pool, 1));
  write_pos(pool, b, 6, 99);
  EXPECT_EQ(b.blocks()[0], a.blocks()[0]);  // the full block stays shared
  EXPECT_NE(b.blocks()[1], a.blocks()[1]);
  EXPECT_EQ(pool.refs(a.blocks()[1]), 1);
  EXPECT_EQ(read_pos(pool, b, 5), 15);  // the copy carries the prefix
  EXPECT_EQ(read_pos(pool, b, 4), 14);

  // a now owns its partial block alone: writing there copies nothing, and b still reads its own.
  EXPECT_EQ(a.blocks_needed(pool, 1), 0);
  ASSERT_TRUE(a.append(pool, 1));
  write_pos(pool, a, 6, 42);
  EXPECT_EQ(read_pos(pool, a, 6), 42);
  EXPECT_EQ(read_pos(pool, b, 6), 99);
  EXPECT_EQ(pool.used_blocks(), 3);

  a.release(pool);
  EXPECT_EQ(pool.refs(b.blocks()[0]), 1);
  EXPECT_EQ(read_pos(pool, b, 0), 10);  // b's data survives a's release
  b.release(pool);
  EXPECT_EQ(pool.free_blocks(), 8);
}

TEST(BlockTable, ForkOfAPrefixAndTruncate) {
  BlockPool pool(8, 64, 4);
  BlockTable a;
  ASSERT_TRUE(a.append(pool, 10));  // 3 blocks
  BlockTable b = a.fork(pool, 4);   // exactly the first block: nothing to copy on append
  EXPECT_EQ(b.blocks().size(), 1u);
  EXPECT_EQ(b.blocks_needed(pool, 2), 1);
  ASSERT_TRUE(b.append(pool, 2));
  EXPECT_EQ(pool.refs(a.blocks()[0]), 2);
  EXPECT_NE(b.blocks()[1], a.blocks()[1]);

  a.truncate(pool, 5);  // keeps blocks 0 and 1
  EXPECT_EQ(a.blocks().size(), 2u);
  EXPECT_EQ(pool.used_blocks(), 3);
  EXPECT_ANY_THROW(a.truncate(pool, 6));  // past the end
  EXPECT_ANY_THROW(a.fork(pool, 6));
  a.release(pool);
  b.release(pool);
  EXPECT_EQ(pool.free_blocks(), 8);
}

TEST(BlockPool, IndexedBlocksAreCachedWhenReleasedAndEvictedLeastRecentlyUsedFirst) {
  BlockPool pool(3, 64, 16);
  std::vector<BlockId> evicted;
  pool.on_evict([&](BlockId b) { evicted.push_back(b); });
  const BlockId a = *pool.allocate(), b = *pool.allocate(), c = *pool.allocate();
  pool.set_indexed(a);
  pool.set_indexed(b);
  pool.release(b);  // b cached first, then a
  pool.release(a);
  pool.release(c);  // not indexed: free
  EXPECT_EQ(pool.cached_blocks(), 2);
  EXPECT_EQ(pool.free_blocks(), 3);
  EXPECT_EQ(pool.used_blocks(), 0);
  pool.acquire(a);  // a held again, out of the cache
  EXPECT_EQ(pool.refs(a), 1);
  EXPECT_EQ(pool.cached_blocks(), 1);
  EXPECT_EQ(*pool.allocate(), c) << "free blocks before cached ones";
  EXPECT_TRUE(evicted.empty());
  EXPECT_EQ(*pool.allocate(), b) << "then the least recently released cached block";
  EXPECT_EQ(evicted, std::vector<BlockId>{b});
  EXPECT_FALSE(pool.indexed(b)) << "its new contents are not indexed";
  EXPECT_FALSE(pool.allocate().has_value());
  pool.acquire(a);  // a held block: one more reference
  EXPECT_EQ(pool.refs(a), 2);
  pool.release(c);  // not indexed: free, and a free block cannot be acquired
  EXPECT_ANY_THROW(pool.acquire(c));
}

// Eviction spares blocks that head others (as the prefix index tells) while others can go, and a
// released table gives its last block to the cache first, so a prefix's start is the last of it
// to go.
TEST(BlockPool, EvictionSparesBlocksThatHeadOthers) {
  BlockPool pool(3, 64, 16);
  std::vector<BlockId> evicted;
  std::vector<std::pair<BlockId, BlockId>> next;  // block -> a cached block that continues it
  pool.on_evict([&](BlockId b) { evicted.push_back(b); });
  pool.prefer_to_keep([&](BlockId b) {
    return std::ranges::any_of(next, [&](auto e) { return e.first == b && std::ranges::find(evicted, e.second) == evicted.end(); });
  });
  const BlockId a = *pool.allocate(), b = *pool.allocate(), c = *pool.allocate();
  for (BlockId x : {a, b, c}) pool.set_indexed(x);
  next = {{a, c}};
  pool.release(a);  // least recently released, but it heads c
  pool.release(b);
  pool.release(c);
  EXPECT_EQ(*pool.allocate(), b) << "the oldest block that heads nothing";
  EXPECT_EQ(*pool.allocate(), c);
  EXPECT_EQ(*pool.allocate(), a) << "a heads nothing cached any more";
  EXPECT_EQ(evicted, (std::vector<BlockId>{b, c, a}));
  for (BlockId x : {a, b, c}) pool.release(x);

  // A table's blocks go to the cache last first: with no preference, its end is evicted first.
  BlockPool plain(3, 64, 16);
  std::vector<BlockId> order;
  plain.on_evict([&](BlockId x) { order.push_back(x); });
  BlockTable t;
  ASSERT_TRUE(t.append(plain, 48));
  const std::vector<BlockId> blocks = t.blocks();
  for (BlockId x : blocks) plain.set_indexed(x);
  t.release(plain);
  BlockTable u;
  ASSERT_TRUE(u.append(plain, 48));
  EXPECT_EQ(order, (std::vector<BlockId>{blocks[2], blocks[1], blocks[0]}));
}

}  // namespace
}  // namespace tandem::cache
