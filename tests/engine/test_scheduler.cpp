// The scheduler on its own (no model): token budgets, decode before prompts, admission, and
// preemption that gives every block back and requeues the newest sequence.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <numeric>
#include <thread>

#include "engine/scheduler.h"

namespace tandem::engine {
namespace {

SchedSeq make_seq(uint64_t order, int n_prompt) {
  SchedSeq s;
  s.order = order;
  s.tokens.resize(static_cast<size_t>(n_prompt), 1);
  return s;
}

int64_t tokens_of(const std::vector<StepItem>& items) {
  return std::accumulate(items.begin(), items.end(), int64_t{0}, [](int64_t a, const StepItem& i) { return a + i.n; });
}

TEST(Scheduler, LongPromptIsChunkedByTheBudgetAndDecodeGoesFirst) {
  cache::BlockPool pool(64, 64, 16);
  Scheduler sched(pool, 32, 4);
  SchedSeq a = make_seq(0, 100), b = make_seq(1, 5);
  sched.enqueue(&a);
  auto items = sched.plan();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].n, 32);
  EXPECT_EQ(a.table.n_tokens(), 32);
  sched.enqueue(&b);
  items = sched.plan();  // a continues with 32, b waits for budget: a is older
  EXPECT_EQ(tokens_of(items), 32);
  a.tokens.resize(a.table.n_tokens() + 1);  // pretend a finished its prompt and sampled
  b.tokens.resize(5);
  items = sched.plan();
  ASSERT_GE(items.size(), 2u);
  EXPECT_EQ(items[0].seq, &a);  // decode first
  EXPECT_EQ(items[0].n, 1);
  EXPECT_EQ(items[1].seq, &b);
  EXPECT_EQ(items[1].n, 5);
}

TEST(Scheduler, FullPoolPreemptsTheNewestWhichLaterRecomputes) {
  // 4 blocks of 16 tokens: two sequences of 30 prompt tokens take 2 blocks each.
  cache::BlockPool pool(4, 64, 16);
  Scheduler sched(pool, 64, 4);
  SchedSeq a = make_seq(0, 30), b = make_seq(1, 30);
  sched.enqueue(&a);
  sched.enqueue(&b);
  auto items = sched.plan();
  EXPECT_EQ(tokens_of(items), 60);
  EXPECT_EQ(pool.free_blocks(), 0);
  // Both sample a token, then a third: 31, 32 fit in 2 blocks; 33 needs a new one.
  for (int step = 0; step < 2; ++step) {
    a.tokens.push_back(7);
    b.tokens.push_back(7);
    items = sched.plan();
    EXPECT_EQ(items.size(), 2u);
  }
  a.tokens.push_back(7);
  b.tokens.push_back(7);
  items = sched.plan();  // a needs a block: b (newest) is preempted and a gets one
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].seq, &a);
  EXPECT_EQ(b.table.n_tokens(), 0);
  EXPECT_EQ(b.preemptions, 1);
  EXPECT_EQ(sched.waiting().size(), 1u);
  EXPECT_EQ(b.pending(), 33);  // everything it had, to recompute
  // When a finishes, b comes back and recomputes all 33 tokens.
  sched.remove(&a);
  EXPECT_EQ(pool.free_blocks(), 4);
  items = sched.plan();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].seq, &b);
  EXPECT_EQ(items[0].n, 33);
  sched.remove(&b);
  EXPECT_EQ(pool.free_blocks(), 4);
}

TEST(Scheduler, AdmissionWaitsForRoomAndRespectsMaxRunning) {
  cache::BlockPool pool(8, 64, 16);
  Scheduler sched(pool, 512, 2);
  SchedSeq a = make_seq(0, 20), b = make_seq(1, 20), c = make_seq(2, 20);
  sched.enqueue(&a);
  sched.enqueue(&b);
  sched.enqueue(&c);
  auto items = sched.plan();
  EXPECT_EQ(items.size(), 2u);  // max_running 2
  EXPECT_EQ(sched.running().size(), 2u);
  EXPECT_EQ(sched.waiting().front(), &c);
  sched.remove(&a);
  c.tokens.resize(20);
  b.tokens.push_back(3);
  items = sched.plan();
  EXPECT_EQ(sched.running().size(), 2u);
  EXPECT_TRUE(sched.waiting().empty());
  sched.remove(&b);
  sched.remove(&c);
  EXPECT_EQ(pool.used_blocks(), 0);
}

TEST(Scheduler, TwoPromptsStuckWithAFullPoolDoNotDeadlock) {
  // 3 blocks of 16: two 40-token prompts cannot both fit; the newest yields until the oldest is done.
  cache::BlockPool pool(3, 64, 16);
  Scheduler sched(pool, 16, 4);
  SchedSeq a = make_seq(0, 40), b = make_seq(1, 40);
  sched.enqueue(&a);
  sched.enqueue(&b);
  int guard = 0;
  while (a.pending() > 0 && ++guard < 50) {
    auto items = sched.plan();
    ASSERT_FALSE(items.empty()) << "no progress at step " << guard;
  }
  EXPECT_EQ(a.table.n_tokens(), 40);
}

TEST(Scheduler, ANewSequenceSharesTheWholeBlocksOfAComputedPrefix) {
  cache::BlockPool pool(16, 64, 16);
  Scheduler sched(pool, 256, 4);
  SchedSeq a = make_seq(0, 40);
  for (size_t i = 0; i < a.tokens.size(); ++i) a.tokens[i] = static_cast<model::TokenId>(i);
  sched.enqueue(&a);
  sched.plan();  // a computes 40 positions: blocks [0,16) [16,32) [32,40)
  sched.computed(&a, 40);  // the engine ran the step: a's two full blocks join the index
  SchedSeq b = make_seq(1, 50);
  for (size_t i = 0; i < b.tokens.size(); ++i) b.tokens[i] = static_cast<model::TokenId>(i < 35 ? i : 1000 + i);
  a.tokens.push_back(7);
  sched.enqueue(&b);
  const auto items = sched.plan();
  EXPECT_EQ(sched.shared_tokens(), 32) << "two whole blocks of the 35 common tokens";
  EXPECT_EQ(b.table.blocks()[0], a.table.blocks()[0]);
  EXPECT_EQ(b.table.blocks()[1], a.table.blocks()[1]);
  EXPECT_NE(b.table.blocks()[2], a.table.blocks()[2]) << "the partly common block is b's own";
  EXPECT_EQ(pool.refs(a.table.blocks()[0]), 2);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1].seq, &b);
  EXPECT_EQ(items[1].n, 18) << "only the 18 positions past the shared blocks are computed";
  sched.remove(&a);
  EXPECT_EQ(pool.refs(b.table.blocks()[0]), 1) << "b keeps the shared blocks alive";
  sched.remove(&b);
  EXPECT_EQ(pool.used_blocks(), 0);
  EXPECT_EQ(pool.cached_blocks(), 2) << "the indexed blocks stay for the next sequence with the prefix";
}

// The prefix cache: a finished sequence's full blocks serve a later one with the same first
// tokens, and so does the start of its partly filled last block; the same tokens at other
// positions do not match; cached blocks are given up least recently used first when the pool
// needs room.
TEST(Scheduler, FinishedSequencesLeaveTheirPrefixForLaterOnes) {
  cache::BlockPool pool(6, 64, 16);
  Scheduler sched(pool, 256, 4, 0, /*prefix_seed=*/42);
  auto numbered = [](uint64_t order, int n, int first) {
    SchedSeq s = make_seq(order, n);
    for (int i = 0; i < n; ++i) s.tokens[static_cast<size_t>(i)] = static_cast<model::TokenId>(first + i);
    return s;
  };
  SchedSeq a = numbered(0, 33, 0);  // two full blocks and one token
  sched.enqueue(&a);
  sched.plan();
  sched.computed(&a, 33);
  sched.remove(&a);  // a finished
  EXPECT_EQ(pool.cached_blocks(), 3) << "two full blocks and the partial one";
  EXPECT_EQ(pool.free_blocks(), 6) << "cached blocks count as available";

  SchedSeq b = numbered(1, 40, 0);  // the same first 33 tokens
  sched.enqueue(&b);
  auto items = sched.plan();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].n, 7) << "only the tokens past a's 33 are computed";
  EXPECT_EQ(b.cached_tokens, 33);
  EXPECT_EQ(pool.cached_blocks(), 0) << "b holds them again";
  sched.computed(&b, 40);
  sched.remove(&b);

  // The same 16 tokens one position later are another block: no reuse.
  SchedSeq c = numbered(2, 20, 0);
  c.tokens.insert(c.tokens.begin(), 999);
  sched.enqueue(&c);
  items = sched.plan();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].n, 21);
  EXPECT_EQ(c.cached_tokens, 0);
  sched.computed(&c, 21);
  sched.remove(&c);  // c's full block and its partial one join a's three
  EXPECT_EQ(pool.cached_blocks(), 5);

  // A sequence of 3 new blocks, with one block free: two cached ones go, least recently
  // released first among those that head nothing: a's last two (b released its blocks last
  // first, and a's second heads nothing once its third is gone); the index forgets them.
  SchedSeq d = numbered(3, 48, 5000);
  sched.enqueue(&d);
  items = sched.plan();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].n, 48);
  EXPECT_EQ(pool.cached_blocks(), 3);
  sched.remove(&d);
  SchedSeq again_c = numbered(4, 20, 0);
  again_c.tokens.insert(again_c.tokens.begin(), 999);
  SchedSeq again_a = numbered(5, 33, 0);
  sched.enqueue(&again_c);
  sched.enqueue(&again_a);
  sched.plan();
  EXPECT_EQ(again_c.cached_tokens, 20) << "c's full block and 4 tokens of its partial one (the last is computed)";
  EXPECT_EQ(again_a.cached_tokens, 16) << "a's first block stayed: the start of a prefix goes last";
}

// Pipeline stages: the engine plans a step per stage, each over its share of the sequences, and
// a sequence with a step in flight is never preempted (its blocks are being written).
TEST(Scheduler, PlansShareTheSequencesAndNeverPreemptOneInFlight) {
  cache::BlockPool pool(4, 64, 16);
  Scheduler sched(pool, 64, 4);
  SchedSeq a = make_seq(0, 16), b = make_seq(1, 16), c = make_seq(2, 16);
  for (SchedSeq* s : {&a, &b, &c}) sched.enqueue(s);
  auto first = sched.plan(2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].seq, &a);
  EXPECT_EQ(first[1].seq, &b);
  for (auto& it : first) ++it.seq->in_flight;
  auto second = sched.plan(2);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].seq, &c);
  ++c.in_flight;
  EXPECT_TRUE(sched.plan(2).empty()) << "everything is in flight";
  // a and c come back and sample a token each; each needs a second block, and the pool (3 of 4
  // used) has one: a (older) takes it, and the pool is dry for c. The newest sequence is b,
  // but its step is in flight: c yields instead.
  --a.in_flight;
  --c.in_flight;
  a.tokens.push_back(7);
  c.tokens.push_back(7);
  auto third = sched.plan();
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].seq, &a);
  EXPECT_EQ(sched.preemptions(), 1);
  EXPECT_EQ(c.table.n_tokens(), 0) << "c gave its blocks back";
  EXPECT_EQ(b.table.n_tokens(), 16) << "b's blocks stay while its step is in flight";
  EXPECT_EQ(sched.running().size(), 2u);
}

// A sequence that continues only part of an ended sequence's partly filled last block must not
// write into that block: the rest of its rows still serve the ended sequence's prefix. And the
// full blocks it computes after such a start join the index like any others.
TEST(Scheduler, APartialBlockMatchedInPartIsCopiedNotOverwritten) {
  cache::BlockPool pool(16, 64, 16);
  Scheduler sched(pool, 256, 4, 0, /*prefix_seed=*/7);
  auto seq = [](uint64_t order, std::vector<model::TokenId> head, int n, int first) {
    SchedSeq s;
    s.order = order;
    s.tokens = std::move(head);
    for (int i = 0; i < n; ++i) s.tokens.push_back(static_cast<model::TokenId>(first + i));
    return s;
  };
  SchedSeq a = seq(0, {1}, 8, 100);  // BOS and 8 tokens: one partial block of 9
  sched.enqueue(&a);
  sched.plan();
  sched.computed(&a, 9);
  sched.remove(&a);
  const cache::BlockId a_block = 0;
  ASSERT_EQ(pool.cached_blocks(), 1);

  SchedSeq b = seq(1, {1}, 39, 200);  // the same BOS, then other tokens
  sched.enqueue(&b);
  auto items = sched.plan();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(b.cached_tokens, 1) << "BOS from a's partial block";
  EXPECT_NE(b.table.blocks()[0], a_block) << "b writes rows 1.. of its first block: a copy of its own";
  sched.computed(&b, 40);
  sched.remove(&b);

  SchedSeq c = seq(2, b.tokens, 5, 900);  // b's 40 tokens and more
  sched.enqueue(&c);
  sched.plan();
  EXPECT_EQ(c.cached_tokens, 40) << "b's two full blocks and its partial one";
  const cache::BlockId b_last = b.table.blocks()[2];
  EXPECT_EQ(c.table.blocks()[2], b_last) << "c continues all of b's partial block: it writes after b's rows";
  sched.computed(&c, 45);
  sched.remove(&c);
  SchedSeq e = seq(4, c.tokens, 2, 990);  // c's 45 tokens and more: b's entry grew to c's tokens
  sched.enqueue(&e);
  sched.plan();
  EXPECT_EQ(e.cached_tokens, 45);
  sched.remove(&e);

  SchedSeq d = seq(5, a.tokens, 3, 950);  // a's 9 tokens and more: a's block still holds them
  sched.enqueue(&d);
  sched.plan();
  EXPECT_EQ(d.cached_tokens, 9);
  EXPECT_EQ(d.table.blocks()[0], a_block);
}

// Blocks on disk come back asynchronously: a sequence whose prefix is on disk waits for it
// without holding up the others' steps, then shares it and computes only the rest.
TEST(Scheduler, ASequenceWaitsForItsBlocksFromDiskWhileOthersStep) {
  const auto dir = std::filesystem::temp_directory_path() / ("tandem-sched-disk-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto numbered = [](uint64_t order, int n, int first) {
    SchedSeq s = make_seq(order, n);
    for (int i = 0; i < n; ++i) s.tokens[static_cast<size_t>(i)] = static_cast<model::TokenId>(first + i);
    return s;
  };
  {
    cache::DiskStore disk(dir.string(), 1 << 20, 5);
    cache::BlockPool pool(8, 64, 16);
    Scheduler sched(pool, 256, 4, 0, 5);
    sched.set_tiers(nullptr, &disk);
    SchedSeq a = numbered(0, 40, 0);
    sched.enqueue(&a);
    sched.plan();
    sched.computed(&a, 40);  // two full blocks, written through to disk
    sched.remove(&a);
    disk.flush();
  }
  cache::DiskStore disk(dir.string(), 1 << 20, 5);  // a restart
  cache::BlockPool pool(8, 64, 16);
  Scheduler sched(pool, 256, 4, 0, 5);
  sched.set_tiers(nullptr, &disk);
  {
    // The first block is in the pool again (computed after the restart), the second only on disk.
    SchedSeq first = numbered(7, 16, 0);
    sched.enqueue(&first);
    sched.plan();
    sched.computed(&first, 16);
    sched.remove(&first);
  }
  SchedSeq again = numbered(8, 45, 0), other = numbered(9, 20, 500);
  sched.enqueue(&again);
  sched.enqueue(&other);
  auto items = sched.plan();
  ASSERT_EQ(items.size(), 1u) << "the sequence waiting for the disk computes nothing";
  EXPECT_EQ(items[0].seq, &other);
  EXPECT_EQ(sched.tier_stats().disk_misses, 1) << "other's first block has no file";
  EXPECT_TRUE(sched.loading());
  EXPECT_EQ(again.table.n_tokens(), 16) << "the pool's block is shared at once; the disk's waits";
  for (int i = 0; i < 1000 && sched.loading(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    items = sched.plan();
    if (!items.empty()) break;
  }
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].seq, &again);
  EXPECT_EQ(items[0].n, 13) << "the pool's block and the one from disk are shared";
  EXPECT_EQ(again.cached_tokens, 32) << "both counted, though the wait came between them";
  EXPECT_EQ(sched.tier_stats().disk_hits, 1);
  EXPECT_EQ(sched.tier_stats().disk_misses, 1) << "each block counted once, though looked up before each chunk";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tandem::engine
