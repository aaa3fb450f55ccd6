// Memory bandwidth of this machine: the STREAM triad, 1 and 2 threads.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>

#include "bench_common.h"
#include "core/buffer.h"

namespace tandem::bench {
namespace {

constexpr int64_t kTriadN = int64_t{1} << 24;  // floats per array: 64 MiB

struct TriadArrays {
  AlignedBuffer a{kTriadN * sizeof(float)}, b{kTriadN * sizeof(float)}, c{kTriadN * sizeof(float)};
  TriadArrays() {
    float* pb = b.as<float>();
    float* pc = c.as<float>();
    for (int64_t i = 0; i < kTriadN; ++i) {
      pb[i] = 1.0f + static_cast<float>(i & 15);
      pc[i] = 2.0f;
    }
  }
};

TriadArrays& arrays() {
  static TriadArrays t;
  return t;
}

void triad_pass(ThreadPool& p, float s) {
  TriadArrays& t = arrays();
  float* __restrict a = t.a.as<float>();
  const float* __restrict b = t.b.as<float>();
  const float* __restrict c = t.c.as<float>();
  p.parallel_for(kTriadN, 4096, [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i) a[i] = b[i] + s * c[i];
  });
}

constexpr double kTriadBytes = 3.0 * sizeof(float) * static_cast<double>(kTriadN);

void BM_Triad(benchmark::State& st) {
  ThreadPool& p = pool(static_cast<int>(st.range(0)));
  triad_pass(p, 3.0f);  // first touch, warm-up
  double best = 0;
  int64_t iters = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    const auto s0 = std::chrono::steady_clock::now();
    triad_pass(p, 3.0f);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
    best = std::max(best, kTriadBytes / sec / 1e9);
    ++iters;
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double mean = kTriadBytes * static_cast<double>(iters) / sec / 1e9;
  st.counters["GB/s"] = mean;
  st.counters["best_GB/s"] = best;
  st.SetBytesProcessed(static_cast<int64_t>(kTriadBytes) * iters);
  record("triad", "f32", static_cast<int>(st.range(0)), mean, "GB/s", 0);
}
BENCHMARK(BM_Triad)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime()->MinTime(0.5);

}  // namespace

double triad_gbps(ThreadPool& p, int reps) {
  triad_pass(p, 3.0f);
  const auto s0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) triad_pass(p, 3.0f);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
  return kTriadBytes * reps / sec / 1e9;
}

}  // namespace tandem::bench
