#include "core/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TANDEM_PAUSE() _mm_pause()
#else
#define TANDEM_PAUSE() std::this_thread::yield()
#endif

namespace tandem {
namespace {

thread_local bool t_in_pool_task = false;
// Spin iterations before a worker sleeps (~310 us on the Zen 5 reference machine, where a pause
// takes ~19 ns): long enough to catch the next op of a forward pass, short enough not to burn a
// core when idle. A quarter of it (and a caller that yields after 20 us) served 16 streams no
// faster within this machine's noise (six alternating load rounds, 2026-12-08).
constexpr int kSpinIterations = 1 << 14;
std::atomic<int> g_default_threads{0};

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  workers_.reserve(static_cast<size_t>(n_threads - 1));
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::work(int thread) {
  const bool was_in_task = t_in_pool_task;
  t_in_pool_task = true;
  for (;;) {
    const int64_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (task >= n_tasks_) break;
    try {
      fn_(ctx_, task, thread);
    } catch (...) {
      std::lock_guard lock(error_mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
  t_in_pool_task = was_in_task;
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int spin = 0; g == seen && spin < kSpinIterations && !resting_.load(std::memory_order_relaxed); ++spin) {
      TANDEM_PAUSE();
      g = generation_.load(std::memory_order_acquire);
    }
    while (g == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire)) return;
    work(index);
    active_workers_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run_erased(int64_t n_tasks, TaskFn fn, void* ctx) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1 || t_in_pool_task) {
    const bool was_in_task = t_in_pool_task;
    t_in_pool_task = true;
    try {
      for (int64_t t = 0; t < n_tasks; ++t) fn(ctx, t, 0);
    } catch (...) {
      t_in_pool_task = was_in_task;
      throw;
    }
    t_in_pool_task = was_in_task;
    return;
  }
  std::lock_guard run_lock(run_mu_);
  fn_ = fn;
  ctx_ = ctx;
  n_tasks_ = n_tasks;
  error_ = nullptr;
  next_task_.store(0, std::memory_order_relaxed);
  active_workers_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  resting_.store(false, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);  // publishes the job
  generation_.notify_all();
  work(0);
  for (int spins = 0; active_workers_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kSpinIterations) TANDEM_PAUSE();
    else std::this_thread::yield();  // a worker was descheduled: give it the core
  }
  if (error_) std::rethrow_exception(error_);
}

ThreadPool& ThreadPool::global() {
  static ThreadPool pool(g_default_threads.load());
  return pool;
}

void ThreadPool::set_default_threads(int n) { g_default_threads.store(n); }

}  // namespace tandem
