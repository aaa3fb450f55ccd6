// Matrix x vector per weight type over a working set far larger than the last-level cache
// (several 4096 x 4096 matrices used in turn, >= 144 MiB), 1 and 2 threads, reported as GB/s
// of weights read and as a share of the triad bandwidth measured around it; and matrix x
// matrix (64 tokens, one matrix that stays in cache) in GFLOP/s.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "bench_common.h"
#include "core/buffer.h"
#include "core/quant_blocks.h"
#include "kernels/matmul.h"

namespace tandem::bench {
namespace {

constexpr int64_t kDim = 4096;
constexpr size_t kWorkingSetMin = size_t{144} << 20;  // 4.5x the L3
constexpr DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,
                            DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Fills n bytes of weights of type t: small normal floats, or random quantized bytes with
// every f16 scale field set to a modest value (no NaN / denormal paths).
void fill(DType t, std::byte* p, size_t n, uint64_t seed) {
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  auto next = [&] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  if (t == DType::F32 || t == DType::F16 || t == DType::BF16) {
    const size_t es = t == DType::F32 ? 4 : 2;
    for (size_t i = 0; i < n / es; ++i) {
      const float v = static_cast<float>(static_cast<int>(next() & 1023) - 512) / 4096.0f;
      if (t == DType::F32) std::memcpy(p + i * 4, &v, 4);
      else {
        const uint16_t h = t == DType::F16 ? to_f16(v).bits : to_bf16(v).bits;
        std::memcpy(p + i * 2, &h, 2);
      }
    }
    return;
  }
  for (size_t i = 0; i + 8 <= n; i += 8) {
    const uint64_t v = next();
    std::memcpy(p + i, &v, 8);
  }
  const size_t bb = block_bytes(t);
  const size_t d_at = t == DType::Q6_K ? offsetof(BlockQ6_K, d) : 0;
  const bool has_min = t == DType::Q4_K || t == DType::Q5_K;
  const uint16_t d = to_f16(0.001f).bits;
  for (size_t b = 0; b + bb <= n; b += bb) {
    std::memcpy(p + b + d_at, &d, 2);
    if (has_min) std::memcpy(p + b + 2, &d, 2);
  }
}

// The matrices of one type (only one type's set is alive at a time), repacked as the model
// loader does when the active ISA has a packed kernel for the type.
struct WorkingSet {
  DType type = DType::Count;
  size_t matrix_bytes = 0;
  std::vector<AlignedBuffer> mats;
  std::vector<WeightMatrix> views;
};

WorkingSet& working_set(DType t) {
  static WorkingSet ws;
  if (ws.type != t) {
    ws.mats.clear();
    ws.type = t;
    ws.matrix_bytes = row_bytes(t, kDim) * kDim;
    const size_t n = std::max<size_t>(2, (kWorkingSetMin + ws.matrix_bytes - 1) / ws.matrix_bytes);
    ws.views.clear();
    for (size_t i = 0; i < n; ++i) {
      AlignedBuffer raw(ws.matrix_bytes);
      fill(t, raw.data(), ws.matrix_bytes, i + 1);
      const WeightMatrix w{t, raw.data(), kDim, kDim, row_bytes(t, kDim)};
      if (matmul_packable(t)) {
        AlignedBuffer packed = AlignedBuffer::huge_pages(packed_matrix_bytes(w));
        ws.views.push_back(pack_matrix(w, packed.data(), pool(2)));
        ws.mats.push_back(std::move(packed));
      } else {
        ws.views.push_back(w);
        ws.mats.push_back(std::move(raw));
      }
    }
    ws.matrix_bytes = ws.mats.front().size();
  }
  return ws;
}

WeightMatrix matrix(const WorkingSet& ws, size_t i) { return ws.views[i]; }

std::vector<float> random_x(int64_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = dist(rng);
  return x;
}

// y[4096] = W_i[4096][4096] . x, i cycling over the working set.
void BM_Gemv(benchmark::State& st, DType t, int threads) {
  WorkingSet& ws = working_set(t);
  ThreadPool& p = pool(threads);
  const double triad_before = triad_gbps(pool(2), 3);
  const std::vector<float> x = random_x(kDim);
  std::vector<float> y(kDim);
  for (size_t i = 0; i < ws.mats.size(); ++i) matmul(matrix(ws, i), x.data(), 1, y.data(), p);
  size_t i = 0;
  int64_t iters = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    matmul(matrix(ws, i), x.data(), 1, y.data(), p);
    benchmark::DoNotOptimize(y.data());
    i = i + 1 == ws.mats.size() ? 0 : i + 1;
    ++iters;
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double gbps = static_cast<double>(ws.matrix_bytes) * static_cast<double>(iters) / sec / 1e9;
  // The machine's bandwidth drifts with what else runs: the reference is the mean of a triad
  // just before and just after.
  const double triad = 0.5 * (triad_before + triad_gbps(pool(2), 3));
  st.SetBytesProcessed(static_cast<int64_t>(ws.matrix_bytes) * iters);
  st.counters["weights_GB/s"] = gbps;
  st.counters["triad_GB/s"] = triad;
  st.counters["pct_triad"] = 100.0 * gbps / triad;
  st.counters["working_set_MiB"] = static_cast<double>(ws.matrix_bytes * ws.mats.size()) / (1 << 20);
  record("gemv", std::string(dtype_name(t)), threads, gbps, "GB/s", triad);
}

// Y[64][4096] = X[64][4096] . W^T, one matrix (in cache for the smaller types): compute rate.
void BM_Matmul64(benchmark::State& st, DType t, int threads) {
  constexpr int64_t kTok = 64;
  WorkingSet& ws = working_set(t);
  ThreadPool& p = pool(threads);
  const std::vector<float> x = random_x(kTok * kDim);
  std::vector<float> y(kTok * kDim);
  MatmulScratch scratch;
  matmul(matrix(ws, 0), x.data(), kDim, kTok, y.data(), kDim, p, scratch);
  int64_t iters = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    matmul(matrix(ws, 0), x.data(), kDim, kTok, y.data(), kDim, p, scratch);
    benchmark::DoNotOptimize(y.data());
    ++iters;
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double gflops = 2.0 * kDim * kDim * kTok * static_cast<double>(iters) / sec / 1e9;
  st.counters["GFLOP/s"] = gflops;
  st.counters["tokens/s"] = static_cast<double>(kTok * iters) / sec;
  record("matmul64", std::string(dtype_name(t)), threads, gflops, "GFLOP/s", 0);
}

}  // namespace
}  // namespace tandem::bench

// Registered at start-up so the K types appear only once their kernels are registered.
void register_matmul_benchmarks() {
  using namespace tandem;
  for (DType t : bench::kTypes) {
    if (!matmul_supported(t)) continue;
    for (int threads : {1, 2})
      benchmark::RegisterBenchmark(("BM_Gemv/" + std::string(dtype_name(t)) + "/threads:" + std::to_string(threads)).c_str(),
                                   bench::BM_Gemv, t, threads)
          ->UseRealTime()
          ->MinTime(0.5);
    benchmark::RegisterBenchmark(("BM_Matmul64/" + std::string(dtype_name(t)) + "/threads:2").c_str(),
                                 bench::BM_Matmul64, t, 2)
        ->UseRealTime()
        ->MinTime(0.3);
  }
}
