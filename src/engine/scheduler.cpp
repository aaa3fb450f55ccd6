#include "engine/scheduler.h"

#include <algorithm>

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

Scheduler::Scheduler(cache::BlockPool& pool, int64_t batch_tokens, int max_running, int64_t prefill_chunk)
    : pool_(pool), batch_tokens_(batch_tokens), max_running_(max_running),
      prefill_chunk_(prefill_chunk > 0 ? prefill_chunk : batch_tokens) {
  TANDEM_CHECK(batch_tokens > 0 && max_running > 0, "scheduler: {} tokens, {} sequences", batch_tokens, max_running);
}

void Scheduler::enqueue(SchedSeq* s) { insert_by_order(waiting_, s); }

void Scheduler::remove(SchedSeq* s) {
  std::erase(waiting_, s);
  std::erase(running_, s);
  s->table.release(pool_);
}

void Scheduler::preempt(SchedSeq* s) {
  std::erase(running_, s);
  s->table.release(pool_);
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
    if (s->table.n_tokens() == 0) share_prefix(s);
    insert_by_order(running_, s);
  }
}

// A new sequence whose first tokens some running sequence has already computed takes their
// whole blocks by reference (the longest such prefix; at least its last token is left to
// compute, for its logits). Whole blocks are never written again, so no copy is ever needed.
void Scheduler::share_prefix(SchedSeq* s) {
  const int64_t bt = pool_.block_tokens();
  int64_t best = 0;
  SchedSeq* from = nullptr;
  for (SchedSeq* r : running_) {
    const int64_t limit = std::min<int64_t>(r->table.n_tokens(), static_cast<int64_t>(s->tokens.size()) - 1);
    int64_t n = 0;
    while (n < limit && r->tokens[static_cast<size_t>(n)] == s->tokens[static_cast<size_t>(n)]) ++n;
    n = n / bt * bt;
    if (n > best) {
      best = n;
      from = r;
    }
  }
  if (!from) return;
  s->table = from->table.fork(pool_, best);
  shared_tokens_ += best;
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
      const int64_t pending = s->pending();
      if (pending <= 1) continue;
      const int64_t n = fit(*s, std::min(pending, budget));
      if (n == 0) continue;
      const bool ok = s->table.append(pool_, n);
      TANDEM_CHECK(ok, "append of {} tokens that fit", n);
      items.push_back({s, n});
      budget -= n;
    }
    if (!items.empty() || running_.empty()) return items;
    // Every running sequence is stuck in its prompt with the pool full: the newest yields
    // (unless everything is in flight: then the steps in flight free the way).
    SchedSeq* victim = newest_unplanned(items);
    if (victim == nullptr) return items;
    preempt(victim);
  }
}

}  // namespace tandem::engine
