// tandem bench -m FILE: prompt processing (pp) and text generation (tg) speed, measured the way
// llama.cpp's llama-bench does so the numbers compare: random token ids; pp evaluates P tokens in
// batches of -b into an empty context; tg decodes N tokens one at a time from an empty context
// (BOS first), each step computing the logits of its token; one warm-up run of each, then -r
// timed repetitions. Reports medians and spreads, the weight bytes a decode step reads and the
// bandwidth that implies, and the process's peak resident memory.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/isa.h"

namespace tandem::cli {
namespace {

struct BenchOptions {
  ModelOptions model;
  int64_t n_prompt = 512;
  int64_t n_gen = 128;
  int reps = 5;
  bool json = false;
};

struct Series {
  std::vector<double> rates;  // tokens/s, one per repetition
  double median() const {
    std::vector<double> v = rates;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  }
  double min() const { return *std::min_element(rates.begin(), rates.end()); }
  double max() const { return *std::max_element(rates.begin(), rates.end()); }
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

size_t peak_rss_bytes() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<size_t>(u.ru_maxrss) * 1024;  // Linux reports KiB
}

void bench(const BenchOptions& o) {
  auto model = load_model(o.model);
  const auto& tok = model->tokenizer();
  const int64_t n_vocab = model->hparams().n_vocab;
  model::ContextParams cp = context_params(o.model);
  cp.n_ctx = std::max<int64_t>(o.n_prompt + o.n_gen, 16);
  model::Context ctx(*model, cp);
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> any_token(0, static_cast<int>(n_vocab - 1));
  const model::TokenId first = tok.add_bos() && tok.bos() >= 0 ? tok.bos() : any_token(rng);

  auto run_pp = [&]() {
    std::vector<model::TokenId> ids(static_cast<size_t>(o.n_prompt));
    for (auto& t : ids) t = any_token(rng);
    if (tok.add_bos() && tok.bos() >= 0) ids[0] = tok.bos();
    ctx.reset();
    const auto t0 = std::chrono::steady_clock::now();
    ctx.eval(ids);
    return static_cast<double>(o.n_prompt) / seconds_since(t0);
  };
  auto run_tg = [&]() {
    ctx.reset();
    model::TokenId t = first;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < o.n_gen; ++i) {
      ctx.eval(std::span(&t, 1));
      t = any_token(rng);
    }
    return static_cast<double>(o.n_gen) / seconds_since(t0);
  };

  // A group: this rank's traffic and time inside collectives during the timed runs (the
  // stage's tensor group and the whole group's transfers together).
  Collective* group = model->world();
  Collective* tensor = model->tensor_group();
  auto comm_now = [&] {
    CollectiveStats s = group ? group->stats() : CollectiveStats{};
    if (tensor != nullptr && tensor != group) {
      const CollectiveStats t = tensor->stats();
      s.bytes_sent += t.bytes_sent;
      s.seconds += t.seconds;
      s.calls += t.calls;
    }
    return s;
  };
  CollectiveStats pp_comm, tg_comm;
  auto comm_since = [&](const CollectiveStats& a) {
    const CollectiveStats b = comm_now();
    return CollectiveStats{b.bytes_sent - a.bytes_sent, b.seconds - a.seconds, b.calls - a.calls};
  };
  double pp_s = 0, tg_s = 0;
  Series pp, tg;
  if (o.n_prompt > 0) {
    run_pp();  // warm-up: page in the weights, size the scratch buffers
    const CollectiveStats c0 = comm_now();
    for (int r = 0; r < o.reps; ++r) pp.rates.push_back(run_pp());
    pp_comm = comm_since(c0);
    for (double rate : pp.rates) pp_s += static_cast<double>(o.n_prompt) / rate;
  }
  if (o.n_gen > 0) {
    run_tg();
    const CollectiveStats c0 = comm_now();
    for (int r = 0; r < o.reps; ++r) tg.rates.push_back(run_tg());
    tg_comm = comm_since(c0);
    for (double rate : tg.rates) tg_s += static_cast<double>(o.n_gen) / rate;
  }
  const double pp_tokens = static_cast<double>(o.n_prompt * o.reps), tg_tokens = static_cast<double>(o.n_gen * o.reps);

  const size_t weight_bytes = model->weight_bytes();
  const size_t file_bytes = model->file().file_size();
  const size_t kv_bytes = ctx.kv_bytes();
  size_t rss = peak_rss_bytes();
  if (group) {  // the largest of the ranks' peaks
    std::vector<uint64_t> all(static_cast<size_t>(group->size()));
    const uint64_t mine = rss;
    group->all_gather(&mine, sizeof(mine), all.data());
    rss = static_cast<size_t>(*std::max_element(all.begin(), all.end()));
  }
  const int threads = ThreadPool::global().size();
  const double tg_gbs = o.n_gen > 0 ? tg.median() * static_cast<double>(weight_bytes) / 1e9 : 0.0;

  if (o.json) {
    nlohmann::json j = {{"model", o.model.model},
                        {"model_desc", model->describe()},
                        {"threads", threads},
                        {"kernels", isa_summary()},
                        {"model_bytes", weight_bytes},
                        {"file_bytes", file_bytes},
                        {"kv_bytes", kv_bytes},
                        {"peak_rss_bytes", rss},
                        {"reps", o.reps},
                        {"n_prompt", o.n_prompt},
                        {"n_gen", o.n_gen}};
    if (o.n_prompt > 0) {
      j["pp_tokens_per_s"] = pp.median();
      j["pp_samples"] = pp.rates;
    }
    if (o.n_gen > 0) {
      j["tg_tokens_per_s"] = tg.median();
      j["tg_samples"] = tg.rates;
      j["tg_weights_gb_per_s"] = tg_gbs;
    }
    if (group) {
      j["tp"] = model->shard().size;
      j["pp"] = model->shard().n_stages;
      j["pp_comm_bytes_per_token"] = pp_tokens > 0 ? pp_comm.bytes_sent / pp_tokens : 0.0;
      j["pp_comm_bytes_per_token_formula"] = model::bytes_per_token(model->hparams(), model->shard(), o.n_prompt, 1);
      j["pp_comm_time_fraction"] = pp_s > 0 ? pp_comm.seconds / pp_s : 0.0;
      j["tg_comm_bytes_per_token"] = tg_tokens > 0 ? tg_comm.bytes_sent / tg_tokens : 0.0;
      j["tg_comm_bytes_per_token_formula"] = model::bytes_per_token(model->hparams(), model->shard(), 1, 1);
      j["tg_comm_time_fraction"] = tg_s > 0 ? tg_comm.seconds / tg_s : 0.0;
      j["tg_comm_calls_per_token"] = tg_tokens > 0 ? static_cast<double>(tg_comm.calls) / tg_tokens : 0.0;
    }
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("model: {}\n", model->describe());
  fmt::print("threads: {}, kernels: {}, weights read per generated token: {:.1f} MiB\n", threads, isa_summary(),
             static_cast<double>(weight_bytes) / (1 << 20));
  fmt::print("{:<8} {:>14} {:>24}\n", "test", "tokens/s", fmt::format("min .. max of {}", o.reps));
  if (o.n_prompt > 0)
    fmt::print("{:<8} {:>14.2f} {:>24}\n", fmt::format("pp{}", o.n_prompt), pp.median(),
               fmt::format("{:.2f} .. {:.2f}", pp.min(), pp.max()));
  if (o.n_gen > 0)
    fmt::print("{:<8} {:>14.2f} {:>24}   weights {:.1f} GB/s\n", fmt::format("tg{}", o.n_gen), tg.median(),
               fmt::format("{:.2f} .. {:.2f}", tg.min(), tg.max()), tg_gbs);
  fmt::print("peak RSS {:.1f} MiB (file {:.1f} MiB, KV cache {:.1f} MiB){}\n", static_cast<double>(rss) / (1 << 20),
             static_cast<double>(file_bytes) / (1 << 20), static_cast<double>(kv_bytes) / (1 << 20),
             group ? fmt::format(", the largest of {} ranks", group->size()) : "");
  if (group == nullptr) return;
  auto comm_line = [&](const char* test, const CollectiveStats& c, double tokens, double secs, int64_t rows) {
    if (tokens <= 0) return;
    fmt::print("{:<8} communication (rank 0): {:.1f} KiB/token sent (formula {:.1f}), {:.1f} exchanges/token, "
               "{:.0f}% of the time inside them\n",
               test, c.bytes_sent / tokens / 1024,
               model::bytes_per_token(model->hparams(), model->shard(), rows, 1) / 1024,
               static_cast<double>(c.calls) / tokens, secs > 0 ? 100 * c.seconds / secs : 0.0);
  };
  comm_line("pp", pp_comm, pp_tokens, pp_s, o.n_prompt);
  comm_line("tg", tg_comm, tg_tokens, tg_s, 1);
}

}  // namespace

void add_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "prompt and generation speed (tokens/s), as llama-bench measures it");
  add_model_options(cmd, o->model);
  cmd->get_option("--ctx-size")->description("not used: each test runs in a context of exactly p + n tokens, as llama-bench");
  cmd->add_option("-p,--n-prompt", o->n_prompt, "prompt tokens per pp test (0 = skip)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", o->n_gen, "generated tokens per tg test (0 = skip)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("-r,--repetitions", o->reps, "timed repetitions of each test (after one warm-up)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "print one JSON object instead of the table");
  cmd->callback([o] {
    if (o->n_prompt == 0 && o->n_gen == 0) throw_input("bench: -p and -n are both 0: nothing to measure");
    bench(*o);
  });
}

}  // namespace tandem::cli
