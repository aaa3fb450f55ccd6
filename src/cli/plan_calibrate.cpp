// tandem plan --calibrate: this machine as a catalog entry, measured with tandem's own kernels
// and collectives: the weight-streaming rate of the decode kernels (every layer matrix of a model
// file, one token), the GEMM rate of the prefill kernels (the same matrices, 128 tokens), and,
// under an MPI launcher, the all-reduce time of the group (alpha-beta from two sizes). The CPU
// family's efficiencies are 1: the measured rates are what the kernels reach.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli/plan_calibrate.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/file.h"
#include "kernels/matmul.h"
#include "parallel/mpi_comm.h"

namespace tandem::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Matrices {
  std::vector<AlignedBuffer> owned;
  std::vector<WeightMatrix> w;
  double bytes = 0;  // as the kernels read them
};

// Every layer matrix of the file (attention and FFN: the forward pass's mix of shapes), repacked
// as the model loader does.
Matrices layer_matrices(const gguf::File& f) {
  Matrices m;
  for (const gguf::TensorInfo& t : f.tensors()) {
    if (t.name.rfind("blk.", 0) != 0 || t.n_dims != 2 || !matmul_supported(t.type)) continue;
    WeightMatrix src = WeightMatrix::of(f.view(t));
    if (matmul_packable(t.type)) {
      AlignedBuffer buf = AlignedBuffer::huge_pages(packed_matrix_bytes(src));
      src = pack_matrix(src, buf.data(), ThreadPool::global());
      m.owned.push_back(std::move(buf));
    }
    m.bytes += static_cast<double>(t.nbytes);
    m.w.push_back(src);
  }
  if (m.w.empty()) throw_input("--calibrate: {} has no layer matrices with a kernel here", f.name());
  return m;
}

// The median of `reps` passes of fn (seconds): the statistic tandem bench reports too.
template <typename F>
double median_of(int reps, F&& fn) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    fn();
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Rates {
  double stream_bps = 0;  // weight bytes per second, one token
  double gemm_flops = 0;  // FLOP/s, 128 tokens
};

Rates kernel_rates(const Matrices& m, bool quick) {
  int64_t k_max = 0, n_max = 0;
  for (const WeightMatrix& w : m.w) {
    k_max = std::max(k_max, w.k);
    n_max = std::max(n_max, w.n_out);
  }
  constexpr int64_t kTokens = 128;
  std::vector<float> x(static_cast<size_t>(kTokens * k_max)), y(static_cast<size_t>(kTokens * n_max));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  for (float& v : x) v = d(rng);
  ThreadPool& pool = ThreadPool::global();
  Rates r;
  auto pass = [&](int64_t tokens) {
    for (const WeightMatrix& w : m.w) matmul(w, x.data(), tokens, y.data(), pool);
  };
  pass(1);  // warm-up
  r.stream_bps = m.bytes / median_of(quick ? 2 : 5, [&] { pass(1); });
  // GEMMs are compute-bound: a few matrices tell the rate (all of them when not in a hurry).
  const size_t n = quick ? std::min<size_t>(m.w.size(), 6) : m.w.size();
  double flops = 0;
  for (size_t i = 0; i < n; ++i) flops += 2.0 * static_cast<double>(m.w[i].k) * static_cast<double>(m.w[i].n_out) * kTokens;
  r.gemm_flops = flops / median_of(quick ? 1 : 3, [&] {
    for (size_t i = 0; i < n; ++i) matmul(m.w[i], x.data(), kTokens, y.data(), pool);
  });
  return r;
}

// All-reduce of n floats across the group: seconds, best of many.
double allreduce_seconds(Collective& c, size_t n) {
  std::vector<float> buf(n, 1.0f);
  for (int i = 0; i < 5; ++i) c.all_reduce_sum(buf.data(), n);
  c.barrier();
  return median_of(50, [&] { c.all_reduce_sum(buf.data(), n); });
}

// The all-reduce's fixed time when the ranks compute between calls, as in a decode step: ranks
// that share cores arrive at different times and a late one holds up the rest. Each rank streams
// its row slice of each of the file's layer matrices through the one-token kernel (one thread), all-reducing
// 8 KiB after each matrix; the same passes without the all-reduce (every rank at once, sharing
// the cores and memory the same way) are subtracted. Seconds per ring step (the alpha of
// 2 (n - 1) alpha), the median of three measurements, the ranks' mean.
double loaded_alpha(Collective& c, const std::string& model_path) {
  const gguf::File f = gguf::File::open(model_path);
  // Each rank's row slice of every layer matrix, as tensor parallelism splits them (balanced).
  std::vector<WeightMatrix> mine;
  for (const gguf::TensorInfo& t : f.tensors()) {
    if (t.name.rfind("blk.", 0) != 0 || t.n_dims != 2 || !matmul_supported(t.type)) continue;
    WeightMatrix w = WeightMatrix::of(f.view(t));
    const int64_t rows = w.n_out / c.size();
    if (rows == 0) continue;
    w.data = static_cast<const std::byte*>(w.data) + static_cast<size_t>(rows * c.rank()) * w.row_stride;
    w.n_out = rows;
    mine.push_back(w);
  }
  if (mine.empty()) throw_input("--calibrate: {} has no layer matrices with a kernel here", f.name());
  int64_t k_max = 0, n_max = 0;
  for (const WeightMatrix& w : mine) {
    k_max = std::max(k_max, w.k);
    n_max = std::max(n_max, w.n_out);
  }
  std::vector<float> x(static_cast<size_t>(k_max), 0.5f), y(static_cast<size_t>(n_max)), buf(2048, 1.0f);
  ThreadPool one(1);
  auto pass = [&](bool reduce) {
    for (const WeightMatrix& w : mine) {
      matmul(w, x.data(), 1, y.data(), one);
      if (reduce) c.all_reduce_sum(buf.data(), buf.size());
    }
  };
  const double calls = static_cast<double>(mine.size());
  std::vector<double> samples;
  for (int r = 0; r < 3; ++r) {
    c.barrier();
    auto t0 = Clock::now();
    pass(false);
    const double work = seconds_since(t0);
    c.barrier();
    t0 = Clock::now();
    pass(true);
    const double both = seconds_since(t0);
    std::vector<float> extra = {static_cast<float>((both - work) / calls)};
    c.all_reduce_sum(extra.data(), 1);
    samples.push_back(static_cast<double>(extra[0]) / c.size());
  }
  std::sort(samples.begin(), samples.end());
  const double n = c.size();
  return std::max(0.0, samples[1] / (2 * (n - 1)));
}

}  // namespace

std::string local_catalog(const std::string& model_path, Collective* world, bool quick) {
  const bool lead = world == nullptr || world->rank() == 0;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::string host(256, '\0');
  ::gethostname(host.data(), host.size());
  host.resize(std::strlen(host.c_str()));

  // The all-reduce first, every rank in step; then rank 0 alone times the kernels.
  double alpha = 50e-6, beta_bps = 2e9;  // loopback TCP, when not measured
  std::string comm_source = "not measured: run under an MPI launcher (mpirun -n 2 tandem plan --calibrate ...) to measure";
  if (world != nullptr && world->size() > 1) {
    // Two sizes: a decode step's activations (2,048 floats) and a megabyte.
    const size_t small = 2048, large = 256 * 1024;
    const double t_small = allreduce_seconds(*world, small), t_large = allreduce_seconds(*world, large);
    // Ring all-reduce time = 2 (n - 1) / n bytes / beta + 2 (n - 1) alpha, solved from the two.
    const double n = world->size(), f = 2 * (n - 1) / n;
    beta_bps = f * static_cast<double>((large - small) * sizeof(float)) / std::max(1e-9, t_large - t_small);
    alpha = std::max(0.0, (t_small - f * static_cast<double>(small * sizeof(float)) / beta_bps) / (2 * (n - 1)));
    const double idle_alpha = alpha;
    alpha = std::max(alpha, loaded_alpha(*world, model_path));
    comm_source = fmt::format("measured on {}: MPI all-reduce over {} ranks of 8 KiB in {:.1f} us and 1 MiB in {:.1f} us "
                              "(idle); {:.1f} us a ring step when the ranks compute between calls",
                              host, world->size(), t_small * 1e6, t_large * 1e6, alpha * 1e6);
    if (lead)
      fmt::print(stderr, "calibrate: all-reduce over {} ranks: {:.1f} us a step ({:.1f} idle) + bytes at {:.2f} GB/s\n",
                 world->size(), alpha * 1e6, idle_alpha * 1e6, beta_bps / 1e9);
  }
  // The other ranks wait in a broadcast (it polls with sleeps: no core taken; MPI_Barrier spins)
  // while rank 0 times the kernels alone.
  int32_t done = 0;
  if (!lead) {
    world->broadcast(&done, sizeof(done), 0);
    return {};
  }
  const gguf::File f = gguf::File::open(model_path);
  const Rates rates = kernel_rates(layer_matrices(f), quick);
  if (world != nullptr) world->broadcast(&done, sizeof(done), 0);
  fmt::print(stderr, "calibrate: {} threads: weights streamed at {:.1f} GB/s (one token), GEMM {:.1f} GFLOP/s (128 tokens)\n",
             ThreadPool::global().size(), rates.stream_bps / 1e9, rates.gemm_flops / 1e9);
  auto num = [](double v, const std::string& src) { return nlohmann::json{{"value", v}, {"source", src}}; };
  const std::string src = fmt::format("measured on {} by tandem plan --calibrate with {} ({} threads)", host,
                                      std::filesystem::path(model_path).filename().string(), ThreadPool::global().size());
  const nlohmann::json chip = {
      {"kind", "chip"}, {"name", "local"}, {"title", fmt::format("this machine ({}, {} cores)", host, cores)},
      {"family", "cpu"}, {"dies", 1},
      {"bf16_tflops", num(rates.gemm_flops / 1e12, src + ": the weight type's GEMM at 128 tokens")},
      {"int8_tops", num(rates.gemm_flops / 1e12, src + ": the weight type's GEMM at 128 tokens")},
      {"fp8_tflops", num(rates.gemm_flops / 1e12, src + ": the weight type's GEMM at 128 tokens")},
      {"memory_gb", num(static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1e9,
                        "sysconf on " + host)},
      {"memory_tbps", num(rates.stream_bps / 1e12, src + ": weights streamed by the one-token kernels")},
      {"scale_up_gbps", num(beta_bps / 1e9, comm_source)},
      {"scale_up_latency_us", num(alpha * 1e6, comm_source)},
      {"scale_out_gbps", num(beta_bps / 1e9, comm_source)},
      {"scale_out_latency_us", num(alpha * 1e6, comm_source)},
      {"power_w", num(0, "not measured")}};
  const nlohmann::json system = {{"kind", "system"}, {"name", "local"}, {"title", chip["title"]}, {"chip", "local"},
                                 {"topology", "shared memory"}, {"chips", num(1, "this machine")},
                                 {"scale_up_domain", num(1, "this machine")}, {"power_kw", num(0, "not measured")}};
  return nlohmann::json::array({chip, system}).dump(1) + "\n";
}

void calibrate(const std::string& model_path, const std::string& out_path) {
  std::unique_ptr<parallel::MpiComm> world;
  if (parallel::launched_by_mpi()) world = parallel::MpiComm::world(60);
  const std::string text = local_catalog(model_path, world.get(), false);
  if (world != nullptr && world->rank() != 0) return;
  std::ofstream out(out_path);
  out << text;
  if (!out) throw_input("--calibrate: cannot write {}", out_path);
  fmt::print(stderr, "calibrate: wrote {} (use it with --hardware {} --cluster local)\n", out_path, out_path);
}

}  // namespace tandem::cli
