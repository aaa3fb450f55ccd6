#include "cli/model_options.h"

#include <xxhash.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "cli/plan_calibrate.h"
#include "plan/perf.h"
#include "gguf/file.h"
#include "parallel/group.h"
#include "parallel/mpi_comm.h"

namespace tandem::cli {

void add_model_options(CLI::App* cmd, ModelOptions& o, int64_t default_ctx) {
  o.n_ctx = default_ctx;
  cmd->add_option("-m,--model", o.model, "GGUF model file")->required();
  cmd->add_option("-c,--ctx-size", o.n_ctx,
                  default_ctx > 0 ? "context size in tokens"
                                  : "context size in tokens (0 = the model's, at most 4096)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  cmd->add_option("-t,--threads", o.threads, "threads (0 = all cores)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("-b,--batch-size", o.n_batch,
                  "tokens per forward pass in prefill (prefill is compute-bound on CPUs: larger passes are "
                  "not faster, they only take more activation memory)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  cmd->add_option("--kv-type", o.kv_type, "KV cache element type")
      ->capture_default_str()
      ->check(CLI::IsMember({"f16", "f32", "q8_0"}));
  cmd->add_option("--tp", o.tp,
                  "tensor parallel: split every layer over this many processes, started by an MPI "
                  "launcher (mpirun -n N tandem ... --tp N)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--pp", o.pp,
                  "pipeline parallel: split the layers into this many stages, one per group of --tp "
                  "processes (mpirun -n TP*PP tandem ... --tp TP --pp PP)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--plan", o.plan,
                  "auto: split the model over the MPI group (mpirun -n N) as the planner predicts fastest, timing this "
                  "machine's kernels and all-reduce at start (instead of --tp / --pp)")
      ->check(CLI::IsMember({"auto"}));
  cmd->add_option("--tp-timeout", o.tp_timeout,
                  "seconds a rank waits for the others in one exchange before the whole group is aborted "
                  "(a dead, hung or unreachable rank)")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  cmd->add_flag("--no-repack", o.no_repack,
                "read every weight matrix from the mapped file instead of repacking the ones the "
                "CPU has a faster kernel for (uses less memory at load, runs slower)");
}

void add_sampling_options(CLI::App* cmd, engine::SamplingParams& p) {
  cmd->add_option("--temp", p.temperature, "temperature; 0 = greedy")->capture_default_str()
      ->check(CLI::Range(0.0f, 100.0f));
  cmd->add_option("--top-k", p.top_k, "keep the K most likely tokens (0 = off)")->capture_default_str()
      ->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--top-p", p.top_p, "nucleus: smallest set with this probability (1 = off)")
      ->capture_default_str()->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--min-p", p.min_p, "drop tokens below this fraction of the top probability (0 = off)")
      ->capture_default_str()->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--repeat-penalty", p.repeat_penalty, "penalty for repeated tokens (1 = off)")
      ->capture_default_str()->check(CLI::Range(0.0f, 10.0f));
  cmd->add_option("--repeat-last-n", p.repeat_last_n, "tokens the repetition penalties look back over")
      ->capture_default_str()->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--frequency-penalty", p.frequency_penalty, "subtract count x this from a token's logit")
      ->capture_default_str()->check(CLI::Range(-2.0f, 2.0f));
  cmd->add_option("--presence-penalty", p.presence_penalty, "subtract this from a seen token's logit")
      ->capture_default_str()->check(CLI::Range(-2.0f, 2.0f));
  cmd->add_option("-s,--seed", p.seed, "random seed (default: a new one each run)");
}

void add_generate_options(CLI::App* cmd, engine::GenerateOptions& g) {
  cmd->add_option("-n,--n-predict", g.max_tokens, "tokens to generate (-1 = until end of generation)")
      ->capture_default_str()->check(CLI::Range(int64_t{-1}, int64_t{1} << 30));
  cmd->add_option("--stop", g.stop, "stop when this text is generated (repeatable)");
  cmd->add_flag("--ignore-eos", g.ignore_eos, "keep generating past end-of-generation tokens");
}

namespace {

// --plan auto: every rank times the all-reduce, rank 0 times the kernels and predicts each
// tp x pp = N split of the group (the planner's search, one model instance), and all take its
// choice: the most decode tokens/s per chip (ties: the faster prefill).
void choose_plan(ModelOptions& o, parallel::MpiComm* world) {
  const int n = world == nullptr ? 1 : world->size();
  if (o.tp != 1 || o.pp != 1) throw_input("--plan auto chooses --tp and --pp itself: give one or the other");
  std::array<int32_t, 2> chosen{1, 1};
  if (n > 1) {
    const std::string local = local_catalog(o.model, world, true);
    if (world->rank() == 0) {
      const plan::Catalog cat = plan::Catalog::with_texts({{"this machine", local}});
      const auto hw = cat.resolve("local");
      const plan::ModelDesc m = plan::model_from_gguf(gguf::File::open(o.model));
      plan::Workload w;
      w.batch = 1;
      w.in = 512;
      w.out = 128;
      w.prefill_tokens = 1;
      double best = -1, best_pp = -1;
      for (int tp = 1; tp <= n; ++tp) {
        if (n % tp != 0) continue;
        const plan::Estimate e = plan::estimate(m, hw, 1, plan::Plan{tp, n / tp, 1, 1}, w);
        if (!e.fits) continue;
        fmt::print(stderr, "plan auto: --tp {} --pp {}: predicted {:.1f} tokens/s decode, {:.1f} prefill\n", tp, n / tp,
                   e.decode_tokens_per_s_per_chip, e.prefill_tokens_per_s_per_chip);
        if (e.decode_tokens_per_s_per_chip > best * 1.0001 ||
            (e.decode_tokens_per_s_per_chip > best * 0.9999 && e.prefill_tokens_per_s_per_chip > best_pp)) {
          best = e.decode_tokens_per_s_per_chip;
          best_pp = e.prefill_tokens_per_s_per_chip;
          chosen = {tp, n / tp};
        }
      }
      if (best < 0) throw_input("--plan auto: no split of {} ranks fits this machine's memory", n);
      fmt::print(stderr, "plan auto: chose --tp {} --pp {}\n", chosen[0], chosen[1]);
    }
    world->broadcast(chosen.data(), sizeof(chosen), 0);
  }
  o.tp = chosen[0];
  o.pp = chosen[1];
  o.plan.clear();
}

}  // namespace

// The MPI group of this process, joined once and kept until exit (MPI is per process).
Groups join_group(const ModelOptions& opts) {
  static std::unique_ptr<parallel::MpiComm> world, tensor;
  static Groups groups;
  static bool joined = false;
  if (joined) return groups;
  ModelOptions o = opts;
  if (o.plan == "auto") {
    if (parallel::launched_by_mpi() && !world) world = parallel::MpiComm::world(o.tp_timeout);
    choose_plan(o, world.get());
  }
  const int n = o.tp * o.pp;
  const std::string how = o.pp == 1 ? fmt::format("--tp {}", o.tp)
                        : o.tp == 1 ? fmt::format("--pp {}", o.pp)
                                    : fmt::format("--tp {} --pp {}", o.tp, o.pp);
  if (!parallel::launched_by_mpi()) {
    if (n == 1) return {};
    throw_input("{} needs {} processes started by an MPI launcher (mpirun -n {} tandem ...); this process was not "
                "started by one",
                how, n, n);
  }
  if (!world) world = parallel::MpiComm::world(o.tp_timeout);
  if (world->size() != n)
    throw_input("{} needs {} processes started by an MPI launcher (mpirun -n {} tandem ...); this group has {}", how,
                n, n, world->size());
  joined = true;
  if (n == 1) return {};
  // Everything that changes what a rank computes must be the same on every rank.
  const gguf::File f = gguf::File::open(o.model);
  parallel::check_same(*world, "model file", f.digest());
  const std::string flags = fmt::format("{}|{}|{}|{}|{}|{}", o.n_ctx, o.n_batch, o.kv_type, o.no_repack, o.tp, o.pp);
  parallel::check_same(*world, "flags (-c, -b, --kv-type, --no-repack, --tp, --pp)",
                       XXH3_64bits(flags.data(), flags.size()));
  if (world->rank() != 0 && std::freopen("/dev/null", "w", stdout) == nullptr)
    throw_runtime("rank {}: cannot silence stdout", world->rank());
  // Stage s holds world ranks [s x tp, (s + 1) x tp); they split its tensors among themselves.
  Collective* tensor_group = nullptr;
  if (o.pp == 1) {
    tensor_group = world.get();
  } else if (o.tp > 1) {
    tensor = world->split(world->rank() / o.tp, world->rank());
    tensor_group = tensor.get();
  }
  groups = Groups(world.get(), tensor_group, o.pp);
  return groups;
}

std::unique_ptr<model::Model> load_model(const ModelOptions& o) {
  if (o.threads > 0) ThreadPool::set_default_threads(o.threads);
  const Groups groups = join_group(o);
  model::BindOptions bind;
  bind.repack = !o.no_repack;
  auto m = model::Model::load(o.model, bind, groups);
  const model::Shard& sh = m->shard();
  std::string where;
  if (sh.tensor_split()) where += fmt::format("tensor-parallel rank {} of {}", sh.rank, sh.size);
  if (sh.n_stages > 1)
    where += fmt::format("{}pipeline stage {} of {}: layers {}-{}", where.empty() ? "" : ", ", sh.stage, sh.n_stages,
                         sh.layer0, sh.layer0 + sh.n_layer - 1);
  TANDEM_LOG_INFO("loaded {}{}", m->describe(), where.empty() ? "" : " (" + where + ")");
  return m;
}

model::ContextParams context_params(const ModelOptions& o) {
  model::ContextParams p;
  p.n_ctx = o.n_ctx;
  p.n_batch = o.n_batch;
  p.kv_type = model::parse_kv_type(o.kv_type.c_str());
  return p;
}

std::string read_text_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input("{}: cannot open {} ({})", path, what, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace tandem::cli
