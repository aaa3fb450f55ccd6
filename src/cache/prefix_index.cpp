#include "cache/prefix_index.h"

#include <xxhash.h>

#include <algorithm>

namespace tandem::cache {

uint64_t PrefixIndex::chain(uint64_t prev, std::span<const int32_t> tokens) {
  return XXH3_64bits_withSeed(tokens.data(), tokens.size_bytes(), prev);
}

std::optional<BlockId> PrefixIndex::find(uint64_t hash, std::span<const int32_t> tokens) const {
  const auto it = by_hash_.find(hash);
  if (it == by_hash_.end() || !std::ranges::equal(it->second.tokens, tokens)) return std::nullopt;
  return it->second.block;
}

bool PrefixIndex::insert(uint64_t hash, std::span<const int32_t> tokens, BlockId b) {
  if (by_hash_.contains(hash) || by_block_.contains(b)) return false;
  by_hash_.emplace(hash, Entry{b, {tokens.begin(), tokens.end()}});
  by_block_.emplace(b, hash);
  return true;
}

std::optional<std::pair<uint64_t, std::span<const int32_t>>> PrefixIndex::entry(BlockId b) const {
  const auto it = by_block_.find(b);
  if (it == by_block_.end()) return std::nullopt;
  return std::pair<uint64_t, std::span<const int32_t>>{it->second, by_hash_.at(it->second).tokens};
}

void PrefixIndex::erase(BlockId b) {
  const auto it = by_block_.find(b);
  if (it == by_block_.end()) return;
  by_hash_.erase(it->second);
  by_block_.erase(it);
}

}  // namespace tandem::cache
