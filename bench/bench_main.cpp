// tandem_bench: Google Benchmark's main plus a summary table (GB/s of weights read and its
// share of the triad bandwidth measured in the same run).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "bench_common.h"
#include "kernels/isa.h"

namespace tandem::bench {
namespace {

struct Row {
  std::string group, name, unit;
  int threads;
  double value, triad;
};

std::map<std::string, Row>& rows() {
  static std::map<std::string, Row> r;
  return r;
}
std::vector<std::string>& order() {
  static std::vector<std::string> o;
  return o;
}

}  // namespace

ThreadPool& pool(int threads) {
  static ThreadPool p1(1), p2(2);
  return threads == 1 ? p1 : p2;
}

void record(const std::string& group, const std::string& name, int threads, double value,
            const std::string& unit, double triad) {
  const std::string key = group + "/" + name + "/" + std::to_string(threads);
  if (!rows().count(key)) order().push_back(key);
  rows()[key] = Row{group, name, unit, threads, value, triad};
}

void print_summary() {
  if (order().empty()) return;
  std::string load = "?";
  std::ifstream("/proc/loadavg") >> load;
  std::printf("\nsummary (isa %s, 1-min load %s at the end)\n", isa_summary().c_str(), load.c_str());
  std::printf("%-10s %-8s %7s %12s %10s %12s\n", "bench", "type", "threads", "value", "unit", "% of triad");
  for (const auto& key : order()) {
    const Row& r = rows()[key];
    const bool bw = r.unit == "GB/s" && r.triad > 0;
    std::printf("%-10s %-8s %7d %12.2f %10s", r.group.c_str(), r.name.c_str(), r.threads, r.value, r.unit.c_str());
    if (bw)
      std::printf(" %11.0f%%  (triad %.1f GB/s)\n", 100.0 * r.value / r.triad, r.triad);
    else
      std::printf("\n");
  }
  // The goal for the quantized matrix x vector: >= 70% of the triad bandwidth on 2 threads.
  for (const char* type : {"q4_0", "q8_0"}) {
    const auto it = rows().find(std::string("gemv/") + type + "/2");
    if (it == rows().end() || it->second.triad <= 0) continue;
    const double pct = 100.0 * it->second.value / it->second.triad;
    std::printf("target gemv %s, 2 threads >= 70%% of triad: %.0f%% %s\n", type, pct,
                pct >= 70.0 ? "(met)" : "(not met; check the load)");
  }
}

}  // namespace tandem::bench

void register_matmul_benchmarks();

int main(int argc, char** argv) {
  register_matmul_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  tandem::bench::print_summary();
  return 0;
}
