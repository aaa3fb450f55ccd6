#include "cache/host_store.h"

#include <algorithm>
#include <cstring>

namespace tandem::cache {

std::vector<StoredBlock> HostStore::put(StoredBlock b) {
  std::vector<StoredBlock> out;
  if (b.data.size() > capacity_) {
    out.push_back(std::move(b));
    return out;
  }
  if (const auto it = by_hash_.find(b.hash); it != by_hash_.end()) {
    lru_.splice(lru_.end(), lru_, it->second);  // already here: now the most recent
    return out;
  }
  bytes_ += b.data.size();
  const uint64_t h = b.hash;
  by_hash_[h] = lru_.insert(lru_.end(), std::move(b));
  while (bytes_ > capacity_) {
    StoredBlock& old = lru_.front();
    bytes_ -= old.data.size();
    by_hash_.erase(old.hash);
    out.push_back(std::move(old));
    lru_.pop_front();
  }
  return out;
}

bool HostStore::get(uint64_t hash, std::span<const int32_t> tokens, std::span<std::byte> out) {
  const auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return false;
  const StoredBlock& b = *it->second;
  if (!std::ranges::equal(b.tokens, tokens) || b.data.size() != out.size()) return false;
  std::memcpy(out.data(), b.data.data(), out.size());
  lru_.splice(lru_.end(), lru_, it->second);
  return true;
}

}  // namespace tandem::cache
