#include "cache/block_pool.h"

#include <cstring>

#include "core/error.h"

namespace tandem::cache {
namespace {

constexpr size_t kAlign = 64;

size_t stride_for(size_t block_bytes) { return (block_bytes + kAlign - 1) / kAlign * kAlign; }

}  // namespace

BlockPool::BlockPool(int64_t n_blocks, size_t block_bytes, int32_t block_tokens)
    : block_tokens_(block_tokens), stride_(stride_for(block_bytes)) {
  if (n_blocks < 1) throw_input("KV cache: {} blocks (at least 1 is needed)", n_blocks);
  if (block_tokens < 1) throw_input("KV cache: {} tokens per block", block_tokens);
  if (block_bytes == 0) throw_input("KV cache: blocks of 0 bytes");
  if (n_blocks > INT32_MAX || stride_ > SIZE_MAX / static_cast<size_t>(n_blocks))
    throw_input("KV cache: {} blocks of {} bytes do not fit in memory", n_blocks, stride_);
  mem_ = AlignedBuffer(stride_ * static_cast<size_t>(n_blocks));
  refs_.assign(static_cast<size_t>(n_blocks), 0);
  indexed_.assign(static_cast<size_t>(n_blocks), 0);
  lru_pos_.assign(static_cast<size_t>(n_blocks), lru_.end());
  free_.reserve(static_cast<size_t>(n_blocks));
  // Handed out in ascending order from a fresh pool.
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(static_cast<BlockId>(b));
}

int64_t BlockPool::blocks_for_bytes(size_t mem_bytes, size_t block_bytes) {
  const size_t stride = stride_for(block_bytes);
  return stride == 0 ? 0 : static_cast<int64_t>(mem_bytes / stride);
}

std::optional<BlockId> BlockPool::allocate() {
  BlockId b = 0;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    auto victim = lru_.begin();
    if (keep_) {
      auto it = lru_.begin();
      for (int k = 0; k < kEvictWindow && it != lru_.end(); ++k, ++it)
        if (!keep_(*it)) {
          victim = it;
          break;
        }
    }
    b = *victim;
    lru_.erase(victim);
    lru_pos_[static_cast<size_t>(b)] = lru_.end();
    indexed_[static_cast<size_t>(b)] = 0;
    refs_[static_cast<size_t>(b)] = 1;
    if (on_evict_) on_evict_(b);  // its contents are still there (a lower tier may keep them)
  } else {
    return std::nullopt;
  }
  refs_[static_cast<size_t>(b)] = 1;
  return b;
}

void BlockPool::acquire(BlockId b) {
  TANDEM_CHECK(b >= 0 && b < n_blocks(), "KV block {}: acquire of a block outside the pool of {}", b, n_blocks());
  const auto i = static_cast<size_t>(b);
  if (refs_[i] == 0) {
    TANDEM_CHECK(lru_pos_[i] != lru_.end(), "KV block {}: acquire of a free block", b);
    lru_.erase(lru_pos_[i]);
    lru_pos_[i] = lru_.end();
  }
  ++refs_[i];
}

void BlockPool::set_indexed(BlockId b) {
  check_live(b, "set_indexed");
  indexed_[static_cast<size_t>(b)] = 1;
}

void BlockPool::check_live(BlockId b, const char* what) const {
  TANDEM_CHECK(b >= 0 && b < n_blocks(), "KV block {}: {} of a block outside the pool of {}", b, what, n_blocks());
  TANDEM_CHECK(refs_[static_cast<size_t>(b)] > 0, "KV block {}: {} of a free block", b, what);
}

void BlockPool::retain(BlockId b) {
  check_live(b, "retain");
  ++refs_[static_cast<size_t>(b)];
}

void BlockPool::release(BlockId b) {
  check_live(b, "release");
  const auto i = static_cast<size_t>(b);
  if (--refs_[i] != 0) return;
  if (indexed_[i]) lru_pos_[i] = lru_.insert(lru_.end(), b);
  else free_.push_back(b);
}

int32_t BlockPool::refs(BlockId b) const {
  TANDEM_CHECK(b >= 0 && b < n_blocks(), "KV block {} outside the pool of {}", b, n_blocks());
  return refs_[static_cast<size_t>(b)];
}

std::byte* BlockPool::data(BlockId b) {
  check_live(b, "data");
  return mem_.data() + static_cast<size_t>(b) * stride_;
}

const std::byte* BlockPool::data(BlockId b) const {
  check_live(b, "data");
  return mem_.data() + static_cast<size_t>(b) * stride_;
}

void BlockPool::copy(BlockId src, BlockId dst, size_t bytes) {
  TANDEM_CHECK(bytes <= stride_ && src != dst, "KV block copy {} -> {} of {} bytes", src, dst, bytes);
  std::memcpy(data(dst), data(src), bytes);
  if (copies_ != nullptr) copies_->push_back({src, dst, bytes});
}

}  // namespace tandem::cache
