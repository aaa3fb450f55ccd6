// Shared pieces of the micro-benchmarks: persistent thread pools, the STREAM-style triad that
// every bandwidth figure is compared with, and the summary table printed after the run.
#pragma once

#include <string>

#include "core/thread_pool.h"

namespace tandem::bench {

// A persistent pool of `threads` threads (the caller counts as one).
ThreadPool& pool(int threads);

// STREAM triad a[i] = b[i] + s * c[i] over three arrays of 64 MiB (6x the 32 MiB L3), split
// evenly across the pool's threads; GB/s counted as STREAM does (two reads + one write of
// each element), the mean over `reps` passes after one warm-up pass.
double triad_gbps(ThreadPool& pool, int reps);

// One line of the summary printed after all benchmarks (the last result per name wins).
void record(const std::string& group, const std::string& name, int threads, double value,
            const std::string& unit, double triad_gbps);

void print_summary();

}  // namespace tandem::bench
