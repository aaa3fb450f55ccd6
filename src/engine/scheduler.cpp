#include "engine/scheduler.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace tandem::engine {
namespace {

void insert_by_order(std::deque<SchedSeq*>& q, SchedSeq* s) {
  q.insert(std::upper_bound(q.begin(), q.end(), s, [](const SchedSeq* a, const SchedSeq* b) { return a->order < b->order; }), s);
}
void insert_by_order(std::vector<SchedSeq*>& q, SchedSeq* s) {
  q.insert(std::upper_bound(q.begin(), q.end(), s, [](const SchedSeq* a, const SchedSeq* b) { return a->order < b->order; }), s);
}

}  // namespace

Scheduler::Scheduler(cache::BlockPool& pool, int64_t batch_tokens, int max_running, int64_t prefill_chunk,
                     uint64_t prefix_seed)
    : pool_(pool), batch_tokens_(batch_tokens), max_running_(max_running),
      prefill_chunk_(prefill_chunk > 0 ? prefill_chunk : batch_tokens), index_(prefix_seed) {
  TANDEM_CHECK(batch_tokens > 0 && max_running > 0, "scheduler: {} tokens, {} sequences", batch_tokens, max_running);
  pool_.on_evict([this](cache::BlockId b) { evicted(b); });
  pool_.prefer_to_keep([this](cache::BlockId b) { return index_.heads_others(b); });
}

void Scheduler::set_tiers(cache::HostStore* host, cache::DiskStore* disk) {
  host_ = host;
  disk_ = disk;
  tier_stats_.block_bytes = static_cast<int64_t>(pool_.block_bytes());
}

// A copy of pool block b's contents under its name, for a lower tier.
cache::StoredBlock Scheduler::stored(cache::BlockId b, uint64_t hash, std::span<const model::TokenId> tokens) const {
  cache::StoredBlock sb;
  sb.hash = hash;
  sb.tokens.assign(tokens.begin(), tokens.end());
  const std::byte* data = pool_.data(b);
  sb.data.assign(data, data + pool_.block_bytes());
  return sb;
}

// A cached block leaves the pool: its contents go down to host memory, then the index forgets
// it. What host memory pushes out is dropped: disk has every indexed block already (written
// through when computed).
void Scheduler::evicted(cache::BlockId b) {
  if (host_ != nullptr)
    if (const auto e = index_.entry(b)) {
      ++tier_stats_.to_host;
      host_->put(stored(b, e->first, e->second));
    }
  index_.erase(b);
}

// A block named `hash` with these tokens from host memory, or back from disk, into a new pool
// block (indexed, one reference: the caller's); nothing when neither has it or the pool has no
// room.
std::optional<cache::BlockId> Scheduler::from_tiers(uint64_t prev, uint64_t hash, std::span<const model::TokenId> tokens) {
  const auto landed = fetched_.find(hash);
  const bool in_host = host_ != nullptr && host_->contains(hash);
  if (!in_host && landed == fetched_.end()) return std::nullopt;
  const auto b = pool_.allocate();
  if (!b) return std::nullopt;
  const std::span<std::byte> dst(pool_.data(*b), pool_.block_bytes());
  if (in_host && host_->get(hash, tokens, dst)) {
    ++tier_stats_.host_hits;
  } else if (landed != fetched_.end() && std::ranges::equal(landed->second.tokens, tokens) &&
             landed->second.data.size() == dst.size()) {
    std::memcpy(dst.data(), landed->second.data.data(), dst.size());
    fetched_.erase(landed);
    ++tier_stats_.disk_hits;
  } else {
    pool_.release(*b);
    return std::nullopt;
  }
  index_.insert(prev, hash, tokens, *b);
  pool_.set_indexed(*b);
  return b;
}

// s's block i is in no faster tier: asks the disk for it and the blocks after it that have
// files (each once per sequence); s waits for them.
void Scheduler::ask_disk(SchedSeq* s, int64_t i) {
  if (disk_ == nullptr || i < s->disk_asked) return;  // asked before: it missed
  const int64_t bt = pool_.block_tokens();
  const int64_t full = (static_cast<int64_t>(s->tokens.size()) - 1) / bt;
  int64_t j = i;
  for (; j < full; ++j) {
    const uint64_t h = block_hash(s, j);
    if (fetched_.contains(h) || (host_ != nullptr && host_->contains(h))) continue;
    if (!fetching_.contains(h)) {
      if (::access(disk_->path_of(h).c_str(), F_OK) != 0) {
        if (j == i) ++tier_stats_.disk_misses;
        break;
      }
      const auto tokens = std::span<const model::TokenId>(s->tokens).subspan(static_cast<size_t>(j * bt), static_cast<size_t>(bt));
      disk_->fetch(h, {tokens.begin(), tokens.end()}, pool_.block_bytes());
      fetching_.insert(h);
    }
    s->awaiting.push_back(h);
  }
  s->disk_asked = std::max(s->disk_asked, j > i ? j : i + 1);  // a missing block i is not looked for again
}

// What the disk sent back: kept while a running sequence may take it; the sequences waiting
// for nothing else are ready.
void Scheduler::take_fetched() {
  if (disk_ == nullptr) return;
  for (cache::StoredBlock& b : disk_->take_fetched()) {
    fetching_.erase(b.hash);
    if (b.data.empty()) ++tier_stats_.disk_misses;  // damaged, or another block's file
    else fetched_.insert_or_assign(b.hash, std::move(b));
  }
  for (SchedSeq* s : running_) std::erase_if(s->awaiting, [&](uint64_t h) { return !fetching_.contains(h); });
  if (fetched_.empty()) return;
  std::unordered_set<uint64_t> wanted;
  const int64_t bt = pool_.block_tokens();
  for (SchedSeq* s : running_)
    for (size_t k = static_cast<size_t>(s->table.n_tokens() / bt); k < s->hashes.size(); ++k) wanted.insert(s->hashes[k]);
  std::erase_if(fetched_, [&](const auto& kv) { return !wanted.contains(kv.first); });
}

bool Scheduler::loading() const {
  return std::any_of(running_.begin(), running_.end(), [](const SchedSeq* s) { return !s->awaiting.empty(); });
}

void Scheduler::enqueue(SchedSeq* s) { insert_by_order(waiting_, s); }

void Scheduler::remove(SchedSeq* s) {
  std::erase(waiting_, s);
  std::erase(running_, s);
  // Its partly filled last block, all computed, serves a later sequence with the same start.
  const int64_t bt = pool_.block_tokens(), have = s->table.n_tokens();
  if (prefix_cache_ && s->in_flight == 0 && have % bt != 0 && s->indexed == have / bt && s->computed == have &&
      static_cast<int64_t>(s->tokens.size()) >= have) {
    const cache::BlockId last = s->table.blocks().back();
    const auto tokens = std::span<const model::TokenId>(s->tokens).subspan(static_cast<size_t>(have / bt * bt),
                                                                            static_cast<size_t>(have % bt));
    if (index_.insert_partial(have < bt ? index_.seed() : block_hash(s, have / bt - 1), tokens, last))
      pool_.set_indexed(last);
  }
  s->table.release(pool_);
  s->indexed = s->computed = 0;
  s->awaiting.clear();
}

void Scheduler::preempt(SchedSeq* s) {
  std::erase(running_, s);
  s->table.release(pool_);
  s->indexed = s->computed = 0;
  s->awaiting.clear();
  ++s->preemptions;
  ++preemptions_;
  insert_by_order(waiting_, s);
}

// Admits the oldest waiting sequences while there is a free slot and the pool can hold all
// their pending tokens (a sequence that found no room waits for others to finish); with nothing
// running the oldest is admitted regardless, so the engine always makes progress.
void Scheduler::admit() {
  while (!waiting_.empty() && static_cast<int>(running_.size()) < max_running_) {
    SchedSeq* s = waiting_.front();
    const bool room = s->table.blocks_needed(pool_, s->pending()) + 1 <= pool_.free_blocks();
    if (!room && !running_.empty()) break;
    waiting_.pop_front();
    if (s->table.n_tokens() == 0) {
      lookup_tokens_ += static_cast<int64_t>(s->tokens.size());
      if (s->cached_tokens < 0) s->cached_tokens = 0;
      share_prefix(s);
    }
    insert_by_order(running_, s);
  }
}

// The prefix index name of s's block i (its tokens [i bt, (i + 1) bt) must be known).
uint64_t Scheduler::block_hash(SchedSeq* s, int64_t i) {
  const int64_t bt = pool_.block_tokens();
  while (static_cast<int64_t>(s->hashes.size()) <= i) {
    const auto k = static_cast<int64_t>(s->hashes.size());
    const uint64_t prev = k == 0 ? index_.seed() : s->hashes.back();
    s->hashes.push_back(cache::PrefixIndex::chain(
        prev, std::span<const model::TokenId>(s->tokens).subspan(static_cast<size_t>(k * bt), static_cast<size_t>(bt))));
  }
  return s->hashes[static_cast<size_t>(i)];
}

// A sequence about to compute prompt tokens first takes the longest chain of indexed blocks
// that continues what it has (at least its last token is left to compute, for its logits):
// when admitted, and again before each prompt chunk, so that sequences admitted together share
// what the first of them computes. Whole blocks are never written again: no copy is needed.
void Scheduler::share_prefix(SchedSeq* s) {
  const int64_t bt = pool_.block_tokens();
  const int64_t have = s->table.n_tokens();
  if (have % bt != 0 || static_cast<int64_t>(s->table.blocks().size()) * bt != have) return;
  const int64_t full = (static_cast<int64_t>(s->tokens.size()) - 1) / bt;
  int64_t i = have / bt;
  for (; i < full; ++i) {
    const uint64_t h = block_hash(s, i);
    const auto tokens = std::span<const model::TokenId>(s->tokens).subspan(static_cast<size_t>(i * bt), static_cast<size_t>(bt));
    if (const auto b = index_.find(h, tokens)) {
      pool_.acquire(*b);
      s->table.push_full(pool_, *b);
    } else if (const auto c = from_tiers(i == 0 ? index_.seed() : block_hash(s, i - 1), h, tokens)) {
      s->table.push_full(pool_, *c);
    } else {
      if (host_ != nullptr && i >= s->host_asked) ++tier_stats_.host_misses;
      s->host_asked = std::max(s->host_asked, i + 1);
      ask_disk(s, i);  // s computes nothing before these blocks are back
      break;
    }
  }
  // Then the start of a partial block some ended sequence left after the same prefix.
  int64_t partial = 0;
  if (prefix_cache_ && s->awaiting.empty() && i * bt < static_cast<int64_t>(s->tokens.size()) - 1) {
    const auto next = std::span<const model::TokenId>(s->tokens).subspan(static_cast<size_t>(i * bt)).first(
        std::min<size_t>(static_cast<size_t>(bt - 1), s->tokens.size() - 1 - static_cast<size_t>(i * bt)));
    if (const auto p = index_.find_partial(i == 0 ? index_.seed() : block_hash(s, i - 1), next)) {
      if (p->extends) {
        pool_.acquire(p->block);  // copied on the first write if anyone else holds it
        s->table.push_partial(pool_, p->block, p->n);
        partial = p->n;
      } else {
        // The start of a full block, or part of a partial one: a copy of its own (the later rows
        // belong to the entry).
        pool_.acquire(p->block);  // held while a block is allocated: not evicted for it
        if (const auto own = pool_.allocate()) {
          pool_.copy(p->block, *own, pool_.block_bytes());
          s->table.push_partial(pool_, *own, p->n);
          partial = p->n;
        }
        pool_.release(p->block);
      }
    }
  }
  const int64_t n = i * bt - have + partial;
  if (n == 0) return;
  s->computed = std::max(s->computed, have + n);
  if (s->indexed == have / bt) s->indexed = i;
  if (s->preemptions == 0) s->cached_tokens = std::max<int64_t>(s->cached_tokens, 0) + n;
  shared_tokens_ += n;
}

void Scheduler::computed(SchedSeq* s, int64_t n) {
  s->computed = std::max(s->computed, std::min(n, s->table.n_tokens()));
  if (!prefix_cache_) return;
  const int64_t bt = pool_.block_tokens();
  const int64_t full = std::min(n, s->table.n_tokens()) / bt;
  for (int64_t i = s->indexed; i < full; ++i) {
    const cache::BlockId b = s->table.blocks()[static_cast<size_t>(i)];
    const std::span<const model::TokenId> tokens =
        std::span<const model::TokenId>(s->tokens).subspan(static_cast<size_t>(i * bt), static_cast<size_t>(bt));
    if (!index_.insert(i == 0 ? index_.seed() : block_hash(s, i - 1), block_hash(s, i), tokens, b)) continue;
    pool_.set_indexed(b);
    if (disk_ != nullptr) {  // written through: a restarted server finds every computed prefix
      ++tier_stats_.to_disk;
      disk_->put(stored(b, block_hash(s, i), tokens));
    }
  }
  s->indexed = std::max(s->indexed, full);
}

int64_t Scheduler::fit(const SchedSeq& s, int64_t want) const {
  if (s.table.blocks_needed(pool_, want) <= pool_.free_blocks()) return want;
  int64_t lo = 0, hi = want;  // blocks_needed grows with n: the largest n that fits
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (s.table.blocks_needed(pool_, mid) <= pool_.free_blocks()) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

SchedSeq* Scheduler::newest_unplanned(const std::vector<StepItem>& planned) const {
  for (auto it = running_.rbegin(); it != running_.rend(); ++it)
    if ((*it)->in_flight == 0 &&
        std::none_of(planned.begin(), planned.end(), [&](const StepItem& p) { return p.seq == *it; }))
      return *it;
  return nullptr;
}

std::vector<StepItem> Scheduler::plan(size_t max_items) {
  take_fetched();
  for (;;) {
    admit();
    std::vector<StepItem> items;
    int64_t budget = batch_tokens_;
    // Decode tokens first: one each; a sequence that finds no block preempts the newest.
    for (size_t i = 0; i < running_.size() && budget > 0 && items.size() < max_items;) {
      SchedSeq* s = running_[i];
      if (s->pending() != 1) {
        ++i;
        continue;
      }
      if (s->table.append(pool_, 1)) {
        items.push_back({s, 1});
        --budget;
        ++i;
        continue;
      }
      SchedSeq* victim = newest_unplanned(items);
      if (victim == nullptr) return items;  // the rest is in flight: wait for it
      preempt(victim);  // may be s itself; running_[i] is then the next sequence
      if (victim != s) continue;
    }
    // Then prompt chunks (and recomputation after preemption), oldest first, taking what fits.
    if (!items.empty()) budget = std::min(budget, prefill_chunk_);
    for (SchedSeq* s : running_) {
      if (budget == 0 || items.size() >= max_items) break;
      if (s->pending() <= 1 || !s->awaiting.empty()) continue;
      share_prefix(s);  // what other sequences computed meanwhile, or the disk sent back
      if (!s->awaiting.empty()) continue;
      const int64_t pending = s->pending();  // at least 1: the last token is always computed
      const int64_t n = fit(*s, std::min(pending, budget));
      if (n == 0) continue;
      const bool ok = s->table.append(pool_, n);
      TANDEM_CHECK(ok, "append of {} tokens that fit", n);
      items.push_back({s, n});
      budget -= n;
    }
    if (!items.empty() || running_.empty() || loading()) return items;  // (the disk's blocks free the way)
    // Every running sequence is stuck in its prompt with the pool full: the newest yields
    // (unless everything is in flight: then the steps in flight free the way).
    SchedSeq* victim = newest_unplanned(items);
    if (victim == nullptr) return items;
    preempt(victim);
  }
}

}  // namespace tandem::engine
