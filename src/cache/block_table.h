// The blocks of one sequence in position order: position p lives in blocks()[p / block_tokens],
// row p % block_tokens. A fork shares its parent's blocks (one more reference each); whoever
// first writes into a shared block gets a private copy (copy-on-write), so a fork never changes
// what another sequence reads. Only whole blocks are shared by reference; a partly filled last
// block is copied on the first write after the fork.
#pragma once

#include <cstdint>
#include <vector>

#include "cache/block_pool.h"

namespace tandem::cache {

class BlockTable {
 public:
  BlockTable() = default;
  BlockTable(BlockTable&&) = default;
  BlockTable& operator=(BlockTable&&) = default;
  BlockTable(const BlockTable&) = delete;  // fork() counts the references
  BlockTable& operator=(const BlockTable&) = delete;

  int64_t n_tokens() const { return n_tokens_; }
  const std::vector<BlockId>& blocks() const { return blocks_; }

  // Blocks append(n) takes from the pool (new blocks, plus a copy of a shared last block).
  int64_t blocks_needed(const BlockPool& pool, int64_t n) const;
  // Makes positions [n_tokens, n_tokens + n) writable: allocates the blocks they need and
  // copies a shared block they would write into. Returns false, changing nothing, when the pool
  // has fewer free blocks than blocks_needed(n).
  bool append(BlockPool& pool, int64_t n);
  // A new table holding the first n (<= n_tokens) positions, sharing their blocks.
  BlockTable fork(BlockPool& pool, int64_t n) const;
  // A table of n_tokens positions over blocks the caller holds one reference to each, which
  // the table now owns (blocks found in the prefix index).
  static BlockTable adopt(std::vector<BlockId> blocks, int64_t n_tokens);
  // Appends a full block the caller holds a reference to (the table owns it now) as positions
  // [n_tokens, n_tokens + block_tokens); n_tokens must be a multiple of the block size.
  void push_full(const BlockPool& pool, BlockId b);
  // The same for the first n (< block_tokens) positions of a block shared with others: the
  // first append copies it (copy-on-write) when anyone else holds it.
  void push_partial(const BlockPool& pool, BlockId b, int64_t n);
  // Keeps positions [0, n) (n <= n_tokens) and releases the blocks past them.
  void truncate(BlockPool& pool, int64_t n);
  // Releases every block (the table is empty afterwards).
  void release(BlockPool& pool) { truncate(pool, 0); }

 private:
  bool last_block_shared(const BlockPool& pool) const;

  std::vector<BlockId> blocks_;
  int64_t n_tokens_ = 0;
};

}  // namespace tandem::cache
