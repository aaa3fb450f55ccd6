// Tier 1 of the KV cache: block contents kept in host memory (--kv-dram BYTES) after the working
// pool gave their room to other blocks. Keyed by prefix-index name and checked against the
// block's tokens on every hit; least recently used first out, into the next tier when there is
// one (the caller passes what put() pushed out on).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

namespace tandem::cache {

// A block's contents on their way between tiers.
struct StoredBlock {
  uint64_t hash = 0;
  std::vector<int32_t> tokens;
  std::vector<std::byte> data;
};

class HostStore {
 public:
  explicit HostStore(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  // Keeps a copy (most recently used); returns the blocks it pushed out to stay within the
  // capacity (oldest first). A block larger than the capacity is returned at once.
  std::vector<StoredBlock> put(StoredBlock b);
  // Copies the block named `hash` with these tokens into out (out.size() bytes, which must be
  // its size) and marks it used; false when absent.
  bool get(uint64_t hash, std::span<const int32_t> tokens, std::span<std::byte> out);
  bool contains(uint64_t hash) const { return by_hash_.contains(hash); }
  size_t bytes() const { return bytes_; }
  size_t size() const { return lru_.size(); }

 private:
  size_t capacity_, bytes_ = 0;
  std::list<StoredBlock> lru_;  // least recently used first
  std::unordered_map<uint64_t, std::list<StoredBlock>::iterator> by_hash_;
};

}  // namespace tandem::cache
