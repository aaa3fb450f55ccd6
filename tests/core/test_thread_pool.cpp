#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace tandem {
namespace {

TEST(ThreadPool, EveryTaskRunsOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.run(n, [&](int64_t t, int thread) {
        ASSERT_GE(thread, 0);
        ASSERT_LT(thread, threads);
        hits[static_cast<size_t>(t)].fetch_add(1);
      });
      for (auto& h : hits) EXPECT_EQ(h.load(), 1);
    }
  }
}

TEST(ThreadPool, ParallelForCoversRangeInGrains) {
  ThreadPool pool(3);
  for (int64_t n : {1, 31, 32, 33, 1000, 4097}) {
    std::vector<int> seen(static_cast<size_t>(n), 0);
    pool.parallel_for(n, 32, [&](int64_t b, int64_t e, int) {
      EXPECT_EQ(b % 32, 0);
      for (int64_t i = b; i < e; ++i) seen[static_cast<size_t>(i)]++;
    });
    EXPECT_EQ(std::accumulate(seen.begin(), seen.end(), 0), n);
    for (int v : seen) EXPECT_EQ(v, 1);
  }
}

TEST(ThreadPool, ManySmallJobsInARow) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  for (int i = 0; i < 20000; ++i) pool.run(2, [&](int64_t t, int) { sum.fetch_add(t + 1); });
  EXPECT_EQ(sum.load(), 20000 * 3);
}

TEST(ThreadPool, ExceptionReachesCaller) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.run(16, [](int64_t t, int) {
    if (t == 5) throw std::runtime_error("task 5");
  }), std::runtime_error);
  // The pool is still usable afterwards.
  std::atomic<int> n{0};
  pool.run(4, [&](int64_t, int) { n++; });
  EXPECT_EQ(n.load(), 4);
}

// After rest() the workers sleep instead of spinning; the next job still has every one of them
// (its tasks wait for each other, so a worker left asleep would time out the wait).
TEST(ThreadPool, RestedWorkersTakePartInTheNextJob) {
  constexpr int kThreads = 3;
  ThreadPool pool(kThreads);
  for (int round = 0; round < 50; ++round) {
    pool.rest();
    if (round % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // they sleep
    std::atomic<int> arrived{0};
    std::atomic<int> met{0};
    pool.run(kThreads, [&](int64_t, int) {
      arrived.fetch_add(1);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (arrived.load() < kThreads && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
      if (arrived.load() == kThreads) met.fetch_add(1);
    });
    ASSERT_EQ(met.load(), kThreads) << "round " << round << ": a worker did not join the job";
  }
}

TEST(ThreadPool, NestedRunIsInline) {
  ThreadPool pool(2);
  std::atomic<int> n{0};
  pool.run(4, [&](int64_t, int) { pool.run(3, [&](int64_t, int) { n++; }); });
  EXPECT_EQ(n.load(), 12);
}

}  // namespace
}  // namespace tandem
