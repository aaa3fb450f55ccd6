// tandem plan --calibrate: this machine as a catalog entry, measured with tandem's own kernels
// and collectives: the weight-streaming rate of the decode kernels (every layer matrix of a model
// file, one token), the GEMM rate of the prefill kernels (the same matrices, 128 tokens), the
// attention kernels' rate over a 512-token prompt, the rate of the per-token vector work, and,
// under an MPI launcher, the all-reduce time of the group (alpha-beta from two sizes). The CPU
// family's efficiencies are 1: the measured rates are what the kernels reach.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "cli/plan_calibrate.h"

#include "cli/calibrate_layer_work.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/file.h"
#include "kernels/matmul.h"
#include "parallel/mpi_comm.h"
#include "plan/model_desc.h"

namespace tandem::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// One kernel call of the forward pass: a matrix alone, attention's q, k and v as one job
// (matmul_multi), or the FFN's gate and up with SwiGLU (matmul_swiglu).
struct Call {
  enum Kind { Single, QKV, GateUp } kind = Single;
  std::vector<size_t> w;  // indices into Matrices::w
};

struct Matrices {
  std::vector<AlignedBuffer> owned;
  std::vector<WeightMatrix> w;
  std::vector<Call> calls;
  double bytes = 0;  // as the kernels read them
};

// A layer matrix of the file: "blk.N.<kind>.weight", 2-D, with a kernel here.
struct LayerTensor {
  const gguf::TensorInfo* info;
  int64_t layer;     // N
  std::string kind;  // "attn_q", "ffn_down", ...
};

// The file's layer matrices in file order.
std::vector<LayerTensor> layer_tensors(const gguf::File& f) {
  std::vector<LayerTensor> out;
  for (const gguf::TensorInfo& t : f.tensors()) {
    if (t.name.rfind("blk.", 0) != 0 || t.n_dims != 2 || !matmul_supported(t.type)) continue;
    char* end = nullptr;
    const int64_t layer = std::strtoll(t.name.c_str() + 4, &end, 10);
    std::string kind = *end == '.' ? std::string(end + 1) : std::string();
    if (kind.size() > 7 && kind.compare(kind.size() - 7, 7, ".weight") == 0) kind.resize(kind.size() - 7);
    out.push_back({&t, layer, std::move(kind)});
  }
  if (out.empty()) throw_input("--calibrate: {} has no layer matrices with a kernel here", f.name());
  return out;
}

// The matrix (or a row slice of it) as the model loader holds it: repacked into huge pages
// where the type has a packed layout (the kernels read that faster than the file's).
WeightMatrix as_loaded(WeightMatrix src, std::vector<AlignedBuffer>& owned, ThreadPool& pool) {
  if (!matmul_packable(src.type)) return src;
  AlignedBuffer buf = AlignedBuffer::huge_pages(packed_matrix_bytes(src));
  src = pack_matrix(src, buf.data(), pool);
  owned.push_back(std::move(buf));
  return src;
}

// Every layer matrix of the file (attention and FFN: the forward pass's mix of shapes), repacked
// as the model loader does, called as the forward pass calls them.
Matrices layer_matrices(const gguf::File& f) {
  Matrices m;
  const std::vector<LayerTensor> tensors = layer_tensors(f);
  std::map<std::pair<int64_t, std::string>, size_t> index;  // (layer, kind) -> index into m.w
  for (const LayerTensor& lt : tensors) {
    const WeightMatrix src = as_loaded(WeightMatrix::of(f.view(*lt.info)), m.owned, ThreadPool::global());
    m.bytes += static_cast<double>(lt.info->nbytes);
    index[{lt.layer, lt.kind}] = m.w.size();
    m.w.push_back(src);
  }
  // The layer's matrices `names` as one call when all are there, unused, and share their k
  // (and, for gate/up, their rows); i must be one of them.
  std::vector<bool> used(m.w.size());
  auto group = [&](int64_t layer, std::initializer_list<const char*> names, size_t i) {
    std::vector<size_t> ids;
    for (const char* n : names) {
      const auto it = index.find({layer, n});
      if (it == index.end() || used[it->second] || m.w[it->second].k != m.w[i].k) return std::vector<size_t>{};
      ids.push_back(it->second);
    }
    return std::find(ids.begin(), ids.end(), i) != ids.end() ? ids : std::vector<size_t>{};
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (used[i]) continue;
    const int64_t layer = tensors[i].layer;
    Call c{Call::QKV, group(layer, {"attn_q", "attn_k", "attn_v"}, i)};
    if (c.w.empty()) c = {Call::GateUp, group(layer, {"ffn_gate", "ffn_up"}, i)};
    if (c.kind == Call::GateUp && (c.w.empty() || m.w[c.w[0]].n_out != m.w[c.w[1]].n_out)) c = {Call::Single, {i}};
    for (size_t j : c.w) used[j] = true;
    m.calls.push_back(std::move(c));
  }
  return m;
}

// The mean time of fn's passes over at least `window` seconds (and at least `min_reps` passes):
// the rate over a stretch as long as one of tandem bench's runs, which this machine's speed
// drifts across (single short passes differ by 20%).
template <typename F>
double mean_over(double window, int min_reps, F&& fn) {
  const auto t0 = Clock::now();
  int reps = 0;
  double t = 0;
  while (reps < min_reps || t < window) {
    fn();
    ++reps;
    t = seconds_since(t0);
  }
  return t / reps;
}

// The median of `reps` passes of fn (seconds).
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
  MatmulScratch scratch;
  std::vector<float> y2(y.size()), y3(y.size());
  auto call = [&](const Call& c, int64_t tokens) {
    const WeightMatrix& a = m.w[c.w[0]];
    if (c.kind == Call::QKV) {
      const WeightMatrix &b = m.w[c.w[1]], &d = m.w[c.w[2]];
      const MatmulOut outs[] = {{&a, y.data(), a.n_out}, {&b, y2.data(), b.n_out}, {&d, y3.data(), d.n_out}};
      matmul_multi(vec_dot_table(), outs, x.data(), a.k, tokens, pool, scratch);
    } else if (c.kind == Call::GateUp) {
      matmul_swiglu(a, m.w[c.w[1]], x.data(), a.k, tokens, y.data(), y2.data(), a.n_out, pool, scratch);
    } else {
      matmul(a, x.data(), a.k, tokens, y.data(), a.n_out, pool, scratch);
    }
  };
  Rates r;
  auto pass = [&](int64_t tokens) {
    for (const Call& c : m.calls) call(c, tokens);
  };
  pass(1);  // warm-up
  pass(1);
  // Passes are short (a decode token's worth): many of them over seconds, as a tg128 run.
  r.stream_bps = m.bytes / mean_over(quick ? 0.2 : 2.0, 5, [&] { pass(1); });
  // GEMMs are compute-bound: a few calls tell the rate (all of them when not in a hurry).
  const size_t n = quick ? std::min<size_t>(m.calls.size(), 4) : m.calls.size();
  double flops = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j : m.calls[i].w) flops += 2.0 * static_cast<double>(m.w[j].k) * static_cast<double>(m.w[j].n_out) * kTokens;
  r.gemm_flops = flops / mean_over(quick ? 0.0 : 3.0, 1, [&] {
    for (size_t i = 0; i < n; ++i) call(m.calls[i], kTokens);
  });
  return r;
}

// tandem's attention over one layer of a 512-token prompt in 128-token chunks (LayerWork, every
// head, the pool's threads): FLOP/s as ModelDesc::attn_flops_per_token counts them.
double attention_rate(const plan::ModelDesc& m, ThreadPool& pool, bool quick) {
  constexpr int64_t kChunk = 128;
  LayerWork work(m, m.n_head, m.n_kv_head, kChunk, pool.size());
  if (!work.ok()) return 0;
  auto prompt = [&] {
    for (int64_t c0 = 0; c0 < LayerWork::kCtx; c0 += kChunk) work.attend(c0, pool);
  };
  prompt();  // warm-up
  double flops = 0;
  for (int64_t c0 = 0; c0 < LayerWork::kCtx; c0 += kChunk) flops += work.attend_flops(c0);
  return flops / mean_over(quick ? 0.1 : 1.0, 3, prompt);
}

// tandem's per-token vector work of one layer over 128 tokens (LayerWork, every head) on the
// calling thread, as the forward pass runs it: bytes per second of f32 elements as
// ModelDesc::vector_elements_per_layer counts them.
double vector_rate(const plan::ModelDesc& m, bool quick) {
  LayerWork work(m, m.n_head, m.n_kv_head, 128, 1);
  if (!work.ok()) return 0;
  work.vector();  // warm-up
  return work.vector_bytes() / mean_over(quick ? 0.05 : 0.5, 5, [&] { work.vector(); });
}

// Ring all-reduce time = 2 (n - 1) / n x bytes / beta + 2 (n - 1) x alpha over n ranks, solved
// from the times of two sizes (floats); when the larger comes out no slower (noise), beta is
// `fallback_beta_bps` and alpha solved from the small one alone.
struct RingFit {
  double alpha;     // s per ring step
  double beta_bps;  // B/s of the ring's traffic
};
RingFit ring_fit(int ranks, size_t small, double t_small, size_t large, double t_large, double fallback_beta_bps) {
  const double n = ranks, ring = 2 * (n - 1) / n;
  const double beta = t_large > t_small ? ring * static_cast<double>((large - small) * sizeof(float)) / (t_large - t_small)
                                        : fallback_beta_bps;
  return {std::max(0.0, (t_small - ring * static_cast<double>(small * sizeof(float)) / beta) / (2 * (n - 1))), beta};
}

// All-reduce of n floats across the group: seconds, best of many.
double allreduce_seconds(Collective& c, size_t n) {
  std::vector<float> buf(n, 1.0f);
  for (int i = 0; i < 5; ++i) c.all_reduce_sum(buf.data(), n);
  c.barrier();
  return median_of(50, [&] { c.all_reduce_sum(buf.data(), n); });
}

// The group at work, as tensor parallelism runs it: each rank runs its slice of each of the
// file's layer matrices (repacked as the loader holds them, one thread) in the forward pass's
// order, all-reducing where tensor parallelism does (after the attention output and after the
// FFN down projection: two calls a layer, with a layer's work between them), every rank at once
// and each pass timed to the end of its slowest rank (a step ends when its last rank does). At
// one token: the passes without the all-reduce give the group's weight stream; with 8 KiB
// all-reduces (a decode step's), the extra time a call. At 128 tokens (a prefill chunk): the
// group's GEMM rate, and the extra time of 1 MiB all-reduces. Ranks that share cores hide each
// other's waits or hold each other up, and take turns on a core and its caches: the idle
// all-reduce and one process's kernels both miss that. The two extra times give the all-reduce's
// alpha (per ring step) and beta as the idle pair does. Means, not medians, of passes with and
// without the all-reduces in alternation: at least 2 s of one-token passes and seven of each
// at 128 tokens (0.3 s and one when quick). Four ranks on two cores run most passes at one
// speed and some much slower (a 20 ms decode pass at 30-57 ms, in runs of several), and a run of
// tandem bench pays its mean: the median of such passes came out 10-20% faster than the
// decode it predicted.
struct GroupRates {
  double alpha;       // s per ring step
  double beta_bps;    // B/s of the ring's traffic
  double stream_bps;  // the whole group's weight stream, one token
  double gemm_flops;  // the whole group's GEMM rate, 128 tokens
  double attn_flops = 0;  // the whole group's attention rate, 128 prompt tokens; 0: not measured
  double vector_bps = 0;  // the whole group's vector work, 128 tokens; 0: not measured
};
GroupRates group_rates(Collective& c, const gguf::File& f, const plan::ModelDesc& desc, double idle_beta_bps, bool quick) {
  // Each rank's slice of every layer matrix, as tensor parallelism splits them (balanced),
  // ordered as the forward pass runs them; the all-reduces follow the attention output and the
  // FFN down projection.
  static constexpr std::string_view kOrder[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
  constexpr int64_t kAttnOutput = 3;  // kOrder's attention output
  struct Slice {
    int64_t layer, order;
    WeightMatrix w;
    bool reduce;  // an all-reduce follows it
  };
  std::vector<Slice> slices;
  std::vector<AlignedBuffer> owned;
  ThreadPool one(1);
  double bytes = 0, flops = 0;  // this rank's slices (as the file holds them), per token; every rank's are the same
  for (const LayerTensor& lt : layer_tensors(f)) {
    WeightMatrix w = WeightMatrix::of(f.view(*lt.info));
    // The attention output and the FFN down projection by their input columns (the rank's heads
    // and FFN columns; partial sums, all-reduced), the rest by output rows.
    const bool reduce = lt.kind == "attn_output" || lt.kind == "ffn_down";
    const int64_t cols = w.k / c.size(), bs = block_size(w.type);
    if (reduce && cols % bs == 0 && cols > 0) {
      w = w.cols(cols * c.rank(), cols);
    } else {
      const int64_t rows = w.n_out / c.size();
      if (rows == 0) continue;
      w = w.rows(rows * c.rank(), rows);
    }
    bytes += static_cast<double>(w.n_out) * static_cast<double>(row_bytes(w.type, w.k));
    flops += 2.0 * static_cast<double>(w.n_out) * static_cast<double>(w.k);
    w = as_loaded(w, owned, one);
    const int64_t order = std::find(std::begin(kOrder), std::end(kOrder), lt.kind) - std::begin(kOrder);
    slices.push_back({lt.layer, order, w, reduce});
  }
  if (slices.empty()) throw_input("--calibrate: {} has no layer matrices with {} rows or more", f.name(), c.size());
  std::stable_sort(slices.begin(), slices.end(),
                   [](const Slice& a, const Slice& b) { return std::tie(a.layer, a.order) < std::tie(b.layer, b.order); });
  // A file without the usual names: an all-reduce after every matrix.
  if (std::none_of(slices.begin(), slices.end(), [](const Slice& s) { return s.reduce; }))
    for (Slice& s : slices) s.reduce = true;
  int64_t k_max = 0, n_max = 0;
  for (const Slice& s : slices) {
    k_max = std::max(k_max, s.w.k);
    n_max = std::max(n_max, s.w.n_out);
  }
  constexpr int64_t kTokens = 128;
  constexpr size_t kSmall = 2048, kLarge = kTokens * kSmall;  // floats: 8 KiB, 1 MiB
  std::vector<float> x(static_cast<size_t>(kTokens * k_max), 0.5f), y(static_cast<size_t>(kTokens * n_max)), buf(kLarge, 1.0f);
  // The rank's heads' layer work besides the matrices, at 128 tokens: before each attention
  // output projection, the layer's vector work and a chunk of prompt rows (positions 192-319:
  // the mean context of a 512-token prompt) attending over its KV heads.
  const int n = c.size();
  LayerWork work(desc, desc.n_head % n == 0 ? desc.n_head / n : 0, std::max<int64_t>(1, desc.n_kv_head / n), kTokens, 1);
  constexpr int64_t kChunkAt = 192;
  const auto layers = static_cast<double>(std::count_if(slices.begin(), slices.end(), [&](const Slice& s) { return s.order == kAttnOutput; }));
  const bool extras = work.ok() && desc.n_kv_head % n == 0 && layers > 0;
  // One pass at `tokens`, all-reducing `reduce` floats where tensor parallelism does (0: not at
  // all), with the layer work when asked: the seconds of attention and of the vector work (the
  // ranks' mean: ranks sharing a core take turns, one slower in one part and faster in another),
  // and the rest of the slowest rank's pass (the matrices and all-reduces).
  struct Times {
    double matrices, attention = 0, vector = 0;
  };
  auto pass = [&](int64_t tokens, size_t reduce, bool with_work = false) {
    c.barrier();
    const auto t0 = Clock::now();
    std::array<double, 3> mine{};  // total, attention, vector
    for (const Slice& s : slices) {
      if (with_work && s.order == kAttnOutput) {
        auto t = Clock::now();
        work.vector();
        mine[2] += seconds_since(t);
        t = Clock::now();
        work.attend(kChunkAt, one);
        mine[1] += seconds_since(t);
      }
      matmul(s.w, x.data(), tokens, y.data(), one);
      if (reduce > 0 && s.reduce) c.all_reduce_sum(buf.data(), reduce);
    }
    mine[0] = seconds_since(t0);
    std::vector<std::array<double, 3>> all(static_cast<size_t>(n));
    c.all_gather(mine.data(), sizeof mine, all.data());
    Times out{0};
    double slowest = 0;
    for (const auto& a : all) {
      slowest = std::max(slowest, a[0]);
      out.attention += a[1] / n;
      out.vector += a[2] / n;
    }
    out.matrices = slowest - out.attention - out.vector;
    return out;
  };
  auto mean = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); };
  const double calls = static_cast<double>(std::count_if(slices.begin(), slices.end(), [](const Slice& s) { return s.reduce; }));
  std::vector<double> works, extra_small, gemms, extra_large, attends, vectors;
  // (Every rank sees the same times, so all stop after the same pass.)
  for (double spent = 0; works.size() < (quick ? 3u : 7u) || spent < (quick ? 0.3 : 2.0);) {
    const double alone = pass(1, 0).matrices, reduced = pass(1, kSmall).matrices;
    works.push_back(alone);
    extra_small.push_back((reduced - alone) / calls);
    spent += alone + reduced;
  }
  for (int r = 0; r < (quick ? 1 : 7); ++r) {
    const Times alone = pass(kTokens, 0, extras), reduced = pass(kTokens, kLarge, extras);
    gemms.push_back(alone.matrices);
    extra_large.push_back((reduced.matrices - alone.matrices) / calls);
    for (const Times& t : {alone, reduced}) {
      attends.push_back(t.attention);
      vectors.push_back(t.vector);
    }
  }
  const RingFit fit = ring_fit(n, kSmall, mean(extra_small), kLarge, mean(extra_large), idle_beta_bps);
  GroupRates g{fit.alpha, fit.beta_bps, n * bytes / mean(works), n * flops * kTokens / mean(gemms)};
  if (extras) {
    g.attn_flops = n * layers * work.attend_flops(kChunkAt) / mean(attends);
    g.vector_bps = n * layers * work.vector_bytes() / mean(vectors);
  }
  return g;
}

}  // namespace

std::string local_catalog(const std::string& model_path, Collective* world, bool quick) {
  const bool lead = world == nullptr || world->rank() == 0;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::string host(256, '\0');
  ::gethostname(host.data(), host.size());
  host.resize(std::strlen(host.c_str()));

  const gguf::File f = gguf::File::open(model_path);
  const plan::ModelDesc desc = plan::model_from_gguf(f);
  // The all-reduce first, every rank in step; then rank 0 alone times the kernels.
  double alpha = 50e-6, beta_bps = 2e9;  // loopback TCP, when not measured
  std::optional<GroupRates> group;  // measured with more than one rank only
  std::string comm_source = "not measured: run under an MPI launcher (mpirun -n 2 tandem plan --calibrate ...) to measure";
  if (world != nullptr && world->size() > 1) {
    // Two sizes: a decode step's activations (2,048 floats) and a megabyte.
    const size_t small = 2048, large = 256 * 1024;
    const double t_small = allreduce_seconds(*world, small), t_large = allreduce_seconds(*world, large);
    const RingFit idle = ring_fit(world->size(), small, t_small, large, t_large, beta_bps);
    // What a step pays is the loaded figure: ranks that share cores hide each other's waits (one
    // computes while another waits) or hold each other up; ranks that do not wait for the late one.
    const GroupRates g = group_rates(*world, f, desc, idle.beta_bps, quick);
    alpha = g.alpha;
    beta_bps = g.beta_bps;
    group = g;
    comm_source = fmt::format("measured on {}: MPI all-reduce over {} ranks of 8 KiB in {:.1f} us and 1 MiB in {:.1f} us "
                              "(idle); {:.1f} us a ring step and {:.2f} GB/s when the ranks compute between calls",
                              host, world->size(), t_small * 1e6, t_large * 1e6, alpha * 1e6, beta_bps / 1e9);
    if (lead)
      fmt::print(stderr,
                 "calibrate: all-reduce over {} ranks at work: {:.1f} us a step + bytes at {:.2f} GB/s ({:.1f} us, {:.2f} GB/s "
                 "idle); {} ranks of one thread stream weights at {:.1f} GB/s together, GEMM {:.1f} GFLOP/s, "
                 "attention {:.1f} GFLOP/s, vector work {:.1f} GB/s\n",
                 world->size(), alpha * 1e6, beta_bps / 1e9, idle.alpha * 1e6, idle.beta_bps / 1e9, world->size(),
                 g.stream_bps / 1e9, g.gemm_flops / 1e9, g.attn_flops / 1e9, g.vector_bps / 1e9);
  }
  // The other ranks wait in a broadcast (it polls with long sleeps: no core taken; MPI_Barrier
  // spins) while rank 0 times the kernels alone.
  int32_t done = 0;
  if (!lead) {
    world->broadcast_patiently(&done, sizeof(done), 0);
    return {};
  }
  const Rates rates = kernel_rates(layer_matrices(f), quick);
  const double attn_flops = attention_rate(desc, ThreadPool::global(), quick);
  const double vector_bps = vector_rate(desc, quick);
  if (world != nullptr) world->broadcast_patiently(&done, sizeof(done), 0);
  fmt::print(stderr,
             "calibrate: {} threads: weights streamed at {:.1f} GB/s (one token), GEMM {:.1f} GFLOP/s (128 tokens), "
             "attention {:.1f} GFLOP/s (512-token prompt), vector work {:.1f} GB/s\n",
             ThreadPool::global().size(), rates.stream_bps / 1e9, rates.gemm_flops / 1e9, attn_flops / 1e9, vector_bps / 1e9);
  auto num = [](double v, const std::string& src) { return nlohmann::json{{"value", v}, {"source", src}}; };
  const std::string src = fmt::format("measured on {} by tandem plan --calibrate with {} ({} threads)", host,
                                      std::filesystem::path(model_path).filename().string(), ThreadPool::global().size());
  nlohmann::json chip = {
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
  if (attn_flops > 0)
    chip["attention_tflops"] = num(attn_flops / 1e12, src + ": the attention kernels over one layer of a 512-token prompt, f16 KV");
  if (group) {
    const std::string group_src = fmt::format("measured on {} by tandem plan --calibrate with {}: {} ranks of one thread each "
                                              "running their slices of the layer matrices at once",
                                              host, std::filesystem::path(model_path).filename().string(), world->size());
    chip["group_memory_tbps"] = num(group->stream_bps / 1e12, group_src + " (one token)");
    chip["group_tflops"] = num(group->gemm_flops / 1e12, group_src + " (128 tokens)");
    const std::string work_src = group_src + ", each with its heads' attention (128 prompt rows at positions 192-319) and "
                                             "vector work before the attention output projection";
    if (group->attn_flops > 0) chip["group_attention_tflops"] = num(group->attn_flops / 1e12, work_src);
    if (group->vector_bps > 0) chip["group_vector_gbps"] = num(group->vector_bps / 1e9, work_src);
    chip["group_ranks"] = world->size();
  }
  if (vector_bps > 0)
    chip["vector_gbps"] = num(vector_bps / 1e9, src + ": one layer's norms, residual adds, rotary embedding and KV store, 128 tokens");
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
