#include "cache/block_table.h"

#include "core/error.h"

namespace tandem::cache {
namespace {

int64_t blocks_for(int64_t tokens, int32_t block_tokens) { return (tokens + block_tokens - 1) / block_tokens; }

}  // namespace

bool BlockTable::last_block_shared(const BlockPool& pool) const {
  return n_tokens_ % pool.block_tokens() != 0 && pool.refs(blocks_.back()) > 1;
}

int64_t BlockTable::blocks_needed(const BlockPool& pool, int64_t n) const {
  TANDEM_CHECK(n >= 0, "append of {} positions", n);
  if (n == 0) return 0;
  const int32_t bt = pool.block_tokens();
  return blocks_for(n_tokens_ + n, bt) - blocks_for(n_tokens_, bt) + (last_block_shared(pool) ? 1 : 0);
}

bool BlockTable::append(BlockPool& pool, int64_t n) {
  const int64_t need = blocks_needed(pool, n);
  if (need > pool.free_blocks()) return false;
  if (n == 0) return true;
  if (last_block_shared(pool)) {
    const BlockId shared = blocks_.back();
    const BlockId own = *pool.allocate();
    pool.copy(shared, own, pool.block_bytes());
    pool.release(shared);
    blocks_.back() = own;
  }
  const int64_t total = blocks_for(n_tokens_ + n, pool.block_tokens());
  while (static_cast<int64_t>(blocks_.size()) < total) blocks_.push_back(*pool.allocate());
  n_tokens_ += n;
  return true;
}

BlockTable BlockTable::fork(BlockPool& pool, int64_t n) const {
  TANDEM_CHECK(n >= 0 && n <= n_tokens_, "fork of {} positions from a sequence of {}", n, n_tokens_);
  BlockTable t;
  t.n_tokens_ = n;
  t.blocks_.assign(blocks_.begin(), blocks_.begin() + blocks_for(n, pool.block_tokens()));
  for (BlockId b : t.blocks_) pool.retain(b);
  return t;
}

BlockTable BlockTable::adopt(std::vector<BlockId> blocks, int64_t n_tokens) {
  TANDEM_CHECK(n_tokens >= 0 && !blocks.empty() == (n_tokens > 0), "a table of {} positions over {} blocks", n_tokens,
               blocks.size());
  BlockTable t;
  t.blocks_ = std::move(blocks);
  t.n_tokens_ = n_tokens;
  return t;
}

void BlockTable::push_full(const BlockPool& pool, BlockId b) {
  TANDEM_CHECK(n_tokens_ % pool.block_tokens() == 0 && static_cast<int64_t>(blocks_.size()) * pool.block_tokens() == n_tokens_,
               "a full block after {} positions in {} blocks", n_tokens_, blocks_.size());
  blocks_.push_back(b);
  n_tokens_ += pool.block_tokens();
}

void BlockTable::push_partial(const BlockPool& pool, BlockId b, int64_t n) {
  TANDEM_CHECK(n > 0 && n < pool.block_tokens() && static_cast<int64_t>(blocks_.size()) * pool.block_tokens() == n_tokens_,
               "a partial block of {} positions after {} positions in {} blocks", n, n_tokens_, blocks_.size());
  blocks_.push_back(b);
  n_tokens_ += n;
}

void BlockTable::truncate(BlockPool& pool, int64_t n) {
  TANDEM_CHECK(n >= 0 && n <= n_tokens_, "truncate to {} positions of {}", n, n_tokens_);
  const auto keep = static_cast<size_t>(blocks_for(n, pool.block_tokens()));
  // Last block first: a prefix's first blocks are released last, so the pool (least recently
  // released first) gives up a prefix's end before its start.
  for (size_t i = blocks_.size(); i > keep; --i) pool.release(blocks_[i - 1]);
  blocks_.resize(keep);
  n_tokens_ = n;
}

}  // namespace tandem::cache
