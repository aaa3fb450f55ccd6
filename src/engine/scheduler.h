// The scheduler of the serving engine: every step it decides which sequences run and how many
// of their tokens, over one shared pool of KV blocks.
//   - Continuous batching: sequences are admitted between any two steps (up to max_running),
//     when the pool has room for their pending tokens; finished ones leave at once.
//   - Decode first: every running sequence with one pending token gets it into the step, then
//     prompts are fed in chunks with what is left of the token budget (chunked prefill), oldest
//     first, so a long prompt never stalls the others for more than one budget's worth; while
//     any sequence decodes, a step takes at most prefill_chunk prompt tokens.
//   - Prefix reuse: every full block a sequence computes goes into the prefix index (cache/
//     prefix_index.h), and stays in the pool after the sequence ends until its room is needed
//     (least recently used first); a sequence admitted later takes the longest chain of indexed
//     blocks its prompt begins with by reference and computes only the rest.
//   - Preemption: when a decode token finds no free block, the newest running sequence gives
//     all its blocks back and waits at the head of the queue; when it runs again it recomputes
//     its KV from its tokens (prompt and generated so far), so nothing it produced is lost and
//     nothing it reads is stale.
//   - Pipelines: the engine may plan the next step while earlier ones are still in flight
//     (pipeline stages); a sequence waiting for its sampled token has nothing pending, so it
//     sits out, and one with a step in flight is never preempted.
// The scheduler knows tokens and blocks only; the engine runs the steps and samples.
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cache/block_pool.h"
#include "cache/block_table.h"
#include "cache/disk_store.h"
#include "cache/host_store.h"
#include "cache/prefix_index.h"
#include "model/tokenizer.h"

namespace tandem::engine {

// What the scheduler needs of a sequence. tokens holds every token known (prompt, then each
// sampled one); the KV of the first table.n_tokens() of them is computed; the rest are pending.
struct SchedSeq {
  uint64_t order = 0;  // arrival: lower is older
  std::vector<model::TokenId> tokens;
  cache::BlockTable table;
  int64_t preemptions = 0;
  int in_flight = 0;  // steps of it still in a pipeline (engine): it is not preempted meanwhile
  int64_t cached_tokens = -1;   // prompt tokens found in the prefix index when first admitted
  std::vector<uint64_t> hashes;  // prefix index names of its full blocks, as far as computed
  int64_t indexed = 0;           // its first `indexed` blocks are in the index
  int64_t computed = 0;          // the KV of its first `computed` positions is computed
  std::vector<uint64_t> awaiting;  // names of its blocks being read from disk: it waits for them
  int64_t disk_asked = 0;          // its blocks before this one were asked of the disk already
  int64_t host_asked = 0;          // ... and of host memory

  int64_t pending() const { return static_cast<int64_t>(tokens.size()) - table.n_tokens(); }
};

struct StepItem {
  SchedSeq* seq;
  int64_t n;  // tokens [table.n_tokens() - n, table.n_tokens()) after plan(): already appended
};

class Scheduler {
 public:
  // batch_tokens: most tokens in a step; prefill_chunk: most prompt tokens in a step that also
  // carries decode tokens (a bound on how much one new prompt delays every running sequence).
  // prefix_seed: the prefix index's seed (the model's identity, KV type, block size).
  Scheduler(cache::BlockPool& pool, int64_t batch_tokens, int max_running, int64_t prefill_chunk = 0,
            uint64_t prefix_seed = 0);

  void enqueue(SchedSeq* s);   // waiting, in order of arrival
  // Removes a sequence wherever it is and gives its blocks back.
  void remove(SchedSeq* s);

  // Plans the next step of at most max_items sequences: admits, reserves blocks (table.append)
  // for every item, preempts when it must (never a sequence with a step in flight). Empty when
  // nothing can run (nothing waiting or running, or all of it in flight).
  std::vector<StepItem> plan(size_t max_items = SIZE_MAX);

  // The KV of s's positions [0, n) is computed: its full blocks among them join the index.
  void computed(SchedSeq* s, int64_t n);

  // Lower tiers of the prefix cache (either may be null; they must outlive the scheduler): a
  // cached block evicted from the pool moves down to host memory, every indexed block is
  // written through to disk (so a restart finds it), and a prefix found only in a lower tier is
  // copied back into a pool block instead of being computed. Disk reads are asynchronous (the
  // disk store's reader thread): a sequence whose next blocks are on disk asks for all of them
  // and computes nothing until they are in (or missed), while the others keep stepping; plan()
  // takes what has arrived.
  void set_tiers(cache::HostStore* host, cache::DiskStore* disk);
  // Off: nothing is indexed, every prompt is computed in full (a baseline for benchmarks).
  void set_prefix_cache(bool on) { prefix_cache_ = on; }
  struct TierStats {
    int64_t host_hits = 0, disk_hits = 0;          // blocks brought back up
    int64_t host_misses = 0, disk_misses = 0;      // blocks looked for in the tier and not found
    int64_t to_host = 0, to_disk = 0;              // blocks moved down
    int64_t block_bytes = 0;
  };
  TierStats tier_stats() const { return tier_stats_; }
  // Some running sequence waits for blocks from disk (the engine then waits for the reader).
  bool loading() const;

  const std::deque<SchedSeq*>& waiting() const { return waiting_; }
  const std::vector<SchedSeq*>& running() const { return running_; }
  int64_t preemptions() const { return preemptions_; }
  int64_t shared_tokens() const { return shared_tokens_; }  // prompt tokens not computed again
  int64_t lookup_tokens() const { return lookup_tokens_; }  // prompt tokens looked up in the index
  const cache::PrefixIndex& index() const { return index_; }
  cache::BlockPool& pool() { return pool_; }

 private:
  void admit();
  void share_prefix(SchedSeq* s);
  uint64_t block_hash(SchedSeq* s, int64_t i);
  void preempt(SchedSeq* s);
  // The most tokens the table can append with the free blocks (at most want).
  int64_t fit(const SchedSeq& s, int64_t want) const;
  SchedSeq* newest_unplanned(const std::vector<StepItem>& planned) const;

  cache::BlockPool& pool_;
  int64_t batch_tokens_;
  int max_running_;
  int64_t prefill_chunk_;
  std::deque<SchedSeq*> waiting_;   // by order
  std::vector<SchedSeq*> running_;  // by order
  int64_t preemptions_ = 0;
  int64_t shared_tokens_ = 0, lookup_tokens_ = 0;
  cache::PrefixIndex index_;
  bool prefix_cache_ = true;
  cache::HostStore* host_ = nullptr;
  cache::DiskStore* disk_ = nullptr;
  TierStats tier_stats_;
  void evicted(cache::BlockId b);
  cache::StoredBlock stored(cache::BlockId b, uint64_t hash, std::span<const model::TokenId> tokens) const;
  std::optional<cache::BlockId> from_tiers(uint64_t prev, uint64_t hash, std::span<const model::TokenId> tokens);
  void ask_disk(SchedSeq* s, int64_t i);
  void take_fetched();
  std::unordered_set<uint64_t> fetching_;                     // asked of the disk, not back yet
  std::unordered_map<uint64_t, cache::StoredBlock> fetched_;  // back from disk, not taken yet
};

}  // namespace tandem::engine
