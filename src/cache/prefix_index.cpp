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

bool PrefixIndex::insert(uint64_t prev, uint64_t hash, std::span<const int32_t> tokens, BlockId b) {
  if (by_hash_.contains(hash) || by_block_.contains(b)) return false;
  // A partial entry of b (a sequence continued it and filled the block) would let a later one
  // write its rows in place: the full entry replaces it (its start is found through full_after_).
  erase(b);
  by_hash_.emplace(hash, Entry{b, {tokens.begin(), tokens.end()}, prev});
  by_block_.emplace(b, hash);
  full_after_[prev].push_back(hash);
  return true;
}

std::optional<std::pair<uint64_t, std::span<const int32_t>>> PrefixIndex::entry(BlockId b) const {
  const auto it = by_block_.find(b);
  if (it == by_block_.end()) return std::nullopt;
  return std::pair<uint64_t, std::span<const int32_t>>{it->second, by_hash_.at(it->second).tokens};
}

bool PrefixIndex::insert_partial(uint64_t prev, std::span<const int32_t> tokens, BlockId b) {
  if (tokens.empty() || by_block_.contains(b)) return false;
  if (const auto it = partial_block_.find(b); it != partial_block_.end()) {
    // A sequence that continued this entry ended in the same block: the entry grows.
    if (it->second != prev) return false;
    for (Entry& e : partial_[prev]) {
      if (e.block != b) continue;
      if (tokens.size() < e.tokens.size() || !std::ranges::equal(e.tokens, tokens.first(e.tokens.size()))) return false;
      e.tokens.assign(tokens.begin(), tokens.end());
      return true;
    }
    return false;
  }
  partial_[prev].push_back(Entry{b, {tokens.begin(), tokens.end()}});
  partial_block_.emplace(b, prev);
  return true;
}

std::optional<PrefixIndex::PartialHit> PrefixIndex::find_partial(uint64_t prev, std::span<const int32_t> next) const {
  std::optional<PartialHit> best;
  auto consider = [&](const Entry& e, bool full) {
    const auto n = static_cast<int64_t>(std::mismatch(e.tokens.begin(), e.tokens.end(), next.begin(), next.end()).first -
                                        e.tokens.begin());
    const bool extends = !full && n == static_cast<int64_t>(e.tokens.size());
    if (n > 0 && (!best || n > best->n || (n == best->n && extends && !best->extends))) best = PartialHit{e.block, n, extends};
  };
  if (const auto it = partial_.find(prev); it != partial_.end())
    for (const Entry& e : it->second) consider(e, false);
  if (const auto it = full_after_.find(prev); it != full_after_.end())
    for (uint64_t h : it->second) consider(by_hash_.at(h), true);
  return best;
}

bool PrefixIndex::heads_others(BlockId b) const {
  const auto it = by_block_.find(b);
  return it != by_block_.end() && (full_after_.contains(it->second) || partial_.contains(it->second));
}

void PrefixIndex::erase(BlockId b) {
  if (const auto it = by_block_.find(b); it != by_block_.end()) {
    const uint64_t prev = by_hash_.at(it->second).prev;
    auto& after = full_after_[prev];
    std::erase(after, it->second);
    if (after.empty()) full_after_.erase(prev);
    by_hash_.erase(it->second);
    by_block_.erase(it);
  }
  if (const auto it = partial_block_.find(b); it != partial_block_.end()) {
    auto& list = partial_[it->second];
    std::erase_if(list, [b](const Entry& e) { return e.block == b; });
    if (list.empty()) partial_.erase(it->second);
    partial_block_.erase(it);
  }
}

}  // namespace tandem::cache
