// The paged KV cache's memory: one pool of fixed-size blocks, each holding the keys and values
// of block_tokens consecutive positions of one sequence for every layer (the layout inside a
// block belongs to the model; the pool only sees bytes). Blocks are reference-counted so that
// sequences with a common prefix share them; the free list is LIFO, so a freed block is the
// next one handed out (still warm in cache).
//
// Cached blocks: a block whose contents the prefix index knows (set_indexed) does not go back to
// the free list when its last reference goes: it waits, least recently released first, for a
// new sequence with the same prefix to take it again (acquire), and is only reused for other
// contents when allocate() finds the free list empty (the eviction callback then tells the
// index). So blocks that no sequence holds still count as available. Among the least recently
// released, a block that heads others (the index says so through prefer_to_keep) goes after the
// ones that head nothing: evicting the start of a prefix would strand every block after it.
//
// Not thread-safe: the engine's scheduler owns the pool and is its only caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <vector>

#include "core/buffer.h"

namespace tandem::cache {

using BlockId = int32_t;

struct BlockCopy {
  BlockId src, dst;
  size_t bytes;
};

class BlockPool {
 public:
  // n_blocks blocks of block_bytes each (rounded up to 64), block_tokens positions per block.
  BlockPool(int64_t n_blocks, size_t block_bytes, int32_t block_tokens);
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // Blocks that fit in mem_bytes (at least 0).
  static int64_t blocks_for_bytes(size_t mem_bytes, size_t block_bytes);

  int64_t n_blocks() const { return static_cast<int64_t>(refs_.size()); }
  // Blocks allocate() can hand out: free ones and cached ones (held by no sequence).
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size() + lru_.size()); }
  int64_t cached_blocks() const { return static_cast<int64_t>(lru_.size()); }
  int64_t used_blocks() const { return n_blocks() - free_blocks(); }
  int32_t block_tokens() const { return block_tokens_; }
  size_t block_bytes() const { return stride_; }

  // A free block with one reference (evicting the least recently released cached block when
  // no block is free), or nothing when every block is held.
  std::optional<BlockId> allocate();
  // One more / one less reference; at zero the block returns to the free list, or to the
  // cached ones when it is indexed.
  void retain(BlockId b);
  void release(BlockId b);
  int32_t refs(BlockId b) const;
  // One more reference to a held or a cached block (a cached one is held again).
  void acquire(BlockId b);
  // The block's contents are in the prefix index: keep them when it is released.
  void set_indexed(BlockId b);
  bool indexed(BlockId b) const { return indexed_[static_cast<size_t>(b)] != 0; }
  // Called with a cached block that allocate() takes for other contents.
  void on_evict(std::function<void(BlockId)> f) { on_evict_ = std::move(f); }
  // True for a cached block that other cached contents continue: allocate() takes one of the
  // kEvictWindow least recently released blocks that are not, when there is one.
  void prefer_to_keep(std::function<bool(BlockId)> f) { keep_ = std::move(f); }
  static constexpr int kEvictWindow = 32;

  std::byte* data(BlockId b);
  const std::byte* data(BlockId b) const;
  // Copies the first `bytes` bytes of src's data into dst (copy-on-write of a shared block).
  void copy(BlockId src, BlockId dst, size_t bytes);
  // When set, every copy() is also appended here (a group's engine repeats them on the other
  // ranks' pools); null stops recording.
  void record_copies(std::vector<BlockCopy>* log) { copies_ = log; }

 private:
  void check_live(BlockId b, const char* what) const;

  int32_t block_tokens_;
  size_t stride_;
  AlignedBuffer mem_;
  std::vector<int32_t> refs_;
  std::vector<BlockId> free_;  // LIFO
  std::vector<uint8_t> indexed_;
  std::list<BlockId> lru_;     // cached blocks, least recently released first
  std::vector<std::list<BlockId>::iterator> lru_pos_;
  std::function<void(BlockId)> on_evict_;
  std::function<bool(BlockId)> keep_;
  std::vector<BlockCopy>* copies_ = nullptr;
};

}  // namespace tandem::cache
