// A persistent thread pool with a low-overhead parallel-for. Threads are created once; a job
// is published by bumping a generation counter; idle workers spin briefly, then sleep on the
// counter (futex-backed std::atomic wait). The calling thread takes part in every job.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace tandem {

class ThreadPool {
 public:
  // n_threads counts the caller: ThreadPool(1) runs everything inline. 0 = hardware threads.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(task, thread) for every task in [0, n_tasks), tasks handed out dynamically.
  // Blocks until all are done; the first exception thrown by a task is rethrown here.
  // Called from inside a task, runs the tasks inline (no nested parallelism).
  template <typename F>
  void run(int64_t n_tasks, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    run_erased(n_tasks, [](void* ctx, int64_t task, int thread) { (*static_cast<Fn*>(ctx))(task, thread); },
               const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // Splits [0, n) into one contiguous chunk per thread, each a multiple of `grain` (the last
  // takes the rest), and calls fn(begin, end, thread). Equal chunks let both cores finish together.
  template <typename F>
  void parallel_for(int64_t n, int64_t grain, F&& fn) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    const int64_t units = (n + grain - 1) / grain;
    const int64_t chunks = units < n_threads_ ? units : n_threads_;
    run(chunks, [&](int64_t c, int thread) {
      const int64_t b = units * c / chunks * grain;
      const int64_t e = c + 1 == chunks ? n : units * (c + 1) / chunks * grain;
      if (b < e) fn(b, e < n ? e : n, thread);
    });
  }

  // Idle workers stop spinning and sleep until the next job: for a caller about to do serial
  // work long enough that their spin would only take the cores from other threads.
  void rest() { resting_.store(true, std::memory_order_relaxed); }

  // A process-wide pool, sized by set_default_threads (or the hardware) on first use.
  static ThreadPool& global();
  static void set_default_threads(int n);

 private:
  using TaskFn = void (*)(void* ctx, int64_t task, int thread);
  void run_erased(int64_t n_tasks, TaskFn fn, void* ctx);
  void worker_loop(int index);
  void work(int thread);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> resting_{false};
  // The current job, valid while a generation is running.
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_tasks_ = 0;
  alignas(64) std::atomic<int64_t> next_task_{0};
  alignas(64) std::atomic<int> active_workers_{0};
  std::mutex error_mu_;
  std::exception_ptr error_;
  std::mutex run_mu_;  // one job at a time when several threads share a pool
};

}  // namespace tandem
