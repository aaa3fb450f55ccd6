// Which KV blocks hold which prefix, so that a new request reuses what was computed before
// instead of recomputing it (multi-turn chats, agents, many questions over one document).
//
// A full block is named by a hash chained over everything its keys and values depend on: the
// seed (the model's identity, the KV element type and the block size) and every token id from
// the first position up to and including the block's own:
//   h(0) = xxh3(tokens of block 0, seed),  h(i) = xxh3(tokens of block i, h(i - 1))
// so equal names mean the same tokens at the same positions of the same model. The index keeps
// each block's own tokens too and compares them on a hit: a 64-bit collision can cost a miss,
// never a wrong reuse. Only full blocks are indexed (a full block is never written again).
// Token ids are the model's (int32).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "cache/block_pool.h"

namespace tandem::cache {

class PrefixIndex {
 public:
  explicit PrefixIndex(uint64_t seed) : seed_(seed) {}

  uint64_t seed() const { return seed_; }
  // The name of a block given its predecessor's (seed() for the first block) and its tokens.
  static uint64_t chain(uint64_t prev, std::span<const int32_t> tokens);

  // The block named `hash` holding exactly `tokens`, if indexed.
  std::optional<BlockId> find(uint64_t hash, std::span<const int32_t> tokens) const;
  // Indexes block b under `hash` (prev: its predecessor's name, the seed for a first block);
  // false (nothing changes) when the name is taken already, by this block or another with the
  // same contents.
  bool insert(uint64_t prev, uint64_t hash, std::span<const int32_t> tokens, BlockId b);
  // Partial blocks: the last, partly filled block of a sequence that ended, under its
  // predecessor's name (the seed for a first block) with the tokens it holds. A later sequence
  // whose next tokens begin with all of them shares the block and writes only after them (copied
  // first if anyone else holds it: BlockTable's copy-on-write), so the rows the entry names never
  // change; one that matches fewer copies the block (see find_partial). When that sequence ends
  // in the same block, the entry grows to its tokens. false when b is indexed already (under
  // other tokens).
  bool insert_partial(uint64_t prev, std::span<const int32_t> tokens, BlockId b);
  // The block after `prev`, partial or full, sharing the most leading tokens with `next` (at
  // least one; next is shorter than a block), how many, and whether they are all of a partial
  // entry's tokens (`extends`): then the caller may write the rows after them in place. Otherwise
  // the later rows belong to the entry (a full block, or a partial one matched in part): the
  // caller copies the block before writing, even when nobody else holds it.
  struct PartialHit {
    BlockId block;
    int64_t n;
    bool extends;
  };
  std::optional<PartialHit> find_partial(uint64_t prev, std::span<const int32_t> next) const;

  // Block b is a full entry that indexed blocks (full or partial) continue.
  bool heads_others(BlockId b) const;
  // Forgets block b (evicted for other contents); nothing if it is not indexed.
  void erase(BlockId b);
  // Block b's name and tokens, when it is indexed.
  std::optional<std::pair<uint64_t, std::span<const int32_t>>> entry(BlockId b) const;
  size_t size() const { return by_hash_.size(); }

 private:
  struct Entry {
    BlockId block;
    std::vector<int32_t> tokens;
    uint64_t prev = 0;
  };
  uint64_t seed_;
  std::unordered_map<uint64_t, Entry> by_hash_;
  std::unordered_map<BlockId, uint64_t> by_block_;
  std::unordered_map<uint64_t, std::vector<Entry>> partial_;  // by predecessor's name
  std::unordered_map<uint64_t, std::vector<uint64_t>> full_after_;  // predecessor's name -> full blocks' names
  std::unordered_map<BlockId, uint64_t> partial_block_;       // block -> predecessor's name
};

}  // namespace tandem::cache
