// tandem serve -m FILE: the OpenAI-compatible server. It listens first (GET /health is 503
// while the model loads), serves until SIGINT/SIGTERM, then stops accepting, lets in-flight
// requests finish within --grace seconds (cancelling the rest) and exits 0.
//
// mpirun -n N tandem serve --tp N: rank 0 listens, schedules and samples; the other ranks only
// run the steps it orders (engine/group.h). A failed group fails the requests in flight with
// 503 and ends the job with a non-zero exit.
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <thread>
#include <filesystem>
#include <pthread.h>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/log.h"
#include "engine/engine.h"
#include "engine/group.h"
#include "model/kv_layout.h"
#include "server/server.h"

namespace tandem::cli {
namespace {

struct ServeOptions {
  ModelOptions model;
  server::ServerOptions http;
  int parallel = 4;
  std::string kv_mem, kv_dram, kv_disk, kv_disk_size = "8G";
  bool no_prefix_cache = false;
  int64_t batch_tokens = 256;
  int64_t prefill_chunk = 64;
  int max_queue = 256;
  double grace_s = 10;
};

// "1073741824", "512M", "2G", "1.5GiB" -> bytes.
size_t parse_bytes(const std::string& s, const char* flag) {
  size_t end = 0;
  double v = 0;
  try {
    v = std::stod(s, &end);
  } catch (const std::exception&) {
    throw_input("{} '{}' is not a size (examples: 2G, 512M, 1073741824)", flag, s);
  }
  std::string unit = s.substr(end);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double mul = 1;
  if (unit.empty() || unit == "B") mul = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB") mul = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MIB") mul = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GIB") mul = 1024.0 * 1024 * 1024;
  else throw_input("{} '{}': unknown unit '{}' (B, K, M, G)", flag, s, s.substr(end));
  if (!(v > 0)) throw_input("{} '{}' must be positive", flag, s);
  return static_cast<size_t>(v * mul);
}

// A rank other than 0: no HTTP, it runs the steps rank 0 orders until rank 0 stops it. Signals
// stay blocked: rank 0 drains its requests first, then ends the followers (a launcher that ends
// the job kills them anyway).
void follow(const ModelOptions& o) {
  auto model = load_model(o);
  const Collective& g = *model->world();
  fmt::print(stderr, "tandem: rank {} of {} ready: following rank 0's steps\n", g.rank(), g.size());
  const int64_t steps = engine::follow(*model);
  fmt::print(stderr, "tandem: rank {} of {} stopped after {} steps\n", g.rank(), g.size(), steps);
}

// Rank 0 after a signal: mpirun sends SIGTERM to every rank when one of them died (and SIGKILL
// a second later), so a step stuck in an exchange for a quarter of a second means the group is
// gone: the requests in flight get their 503 now, while the process can still answer.
void watch_stuck_group(const Collective& group, engine::Engine& eng, const std::atomic<bool>& stopped) {
  while (!stopped.load()) {
    const double waited = group.busy_seconds();
    if (waited > 0.25) {
      const std::string what = fmt::format(
          "rank 0 received a signal while waiting {:.2f} s for the other ranks: one of them died or the launcher is "
          "ending the job", waited);
      fmt::print(stderr, "tandem: error: {}; in-flight requests were failed with 503\n", what);
      eng.fail_all_unavailable("the group of processes running the model failed (" + what + "); retry when it has been restarted");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      std::_Exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void serve(const ServeOptions& o) {
  // Signals are taken by sigwait below, not by whichever thread they land on; a client that
  // closes its socket must not kill the process.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  server::ServerOptions http = o.http;
  if (http.model_name.empty()) http.model_name = std::filesystem::path(o.model.model).stem().string();
  const size_t kv_mem = o.kv_mem.empty() ? 0 : parse_bytes(o.kv_mem, "--kv-mem");
  Collective* group = join_group(o.model).world;
  if (group != nullptr && group->rank() != 0) {
    follow(o.model);
    return;
  }
  server::Server srv(http);
  srv.start();
  fmt::print(stderr, "tandem: listening on http://{}:{} (model '{}' loading)\n", http.host, srv.port(), http.model_name);

  auto model = load_model(o.model);
  engine::EngineOptions eo;
  eo.parallel = o.parallel;
  eo.n_ctx = o.model.n_ctx;
  eo.kv_mem = kv_mem;
  eo.batch_tokens = o.batch_tokens;
  eo.prefill_chunk = o.prefill_chunk;
  eo.kv_type = model::parse_kv_type(o.model.kv_type.c_str());
  eo.max_queue = o.max_queue;
  if (!o.kv_dram.empty()) eo.kv_dram = parse_bytes(o.kv_dram, "--kv-dram");
  eo.kv_disk = o.kv_disk;
  eo.prefix_cache = !o.no_prefix_cache;
  eo.kv_disk_size = parse_bytes(o.kv_disk_size, "--kv-disk-size");
  if (group != nullptr) {
    // A step failed (a rank's error came back): the requests have their 503; end the job so
    // that its supervisor restarts it.
    eo.on_group_failure = [](const std::string& what) {
      fmt::print(stderr, "tandem: error: rank 0: the group failed: {}; in-flight requests were failed with 503\n", what);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // their responses go out
      std::_Exit(1);
    };
  }
  engine::Engine eng(*model, eo);
  if (group != nullptr) {
    // A collective that never completes (a hung or unreachable rank): the watchdog calls this
    // before it aborts the group.
    group->set_failure_handler([&eng](const std::string& what) {
      eng.fail_all_unavailable("the group of processes running the model failed (" + what + "); retry when it has been restarted");
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    });
  }
  srv.set_engine(&eng);
  const engine::EngineStats st = eng.stats();
  fmt::print(stderr, "tandem: ready: {} sequences x {} positions, KV pool {} blocks of {} positions ({:.1f} MiB)\n",
             o.parallel, eng.n_ctx(), st.blocks_total, eng.block_tokens(),
             static_cast<double>(eng.kv_pool_bytes()) / (1 << 20));

  int sig = 0;
  sigwait(&sigs, &sig);
  fmt::print(stderr, "tandem: {} received: finishing in-flight requests (at most {:.0f} s)\n",
             sig == SIGINT ? "SIGINT" : "SIGTERM", o.grace_s);
  std::atomic<bool> stopped{false};
  std::thread watch;
  if (group != nullptr) watch = std::thread([&] { watch_stuck_group(*group, eng, stopped); });
  srv.shutdown(std::chrono::milliseconds(static_cast<int64_t>(o.grace_s * 1000)));
  srv.wait();
  stopped = true;
  if (watch.joinable()) watch.join();
  fmt::print(stderr, "tandem: stopped\n");
}

}  // namespace

void add_serve(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching");
  add_model_options(cmd, o->model);
  cmd->add_option("--host", o->http.host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", o->http.port, "port to listen on (0: any free port)")->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", o->http.api_key, "require 'Authorization: Bearer KEY' on /v1/*");
  cmd->add_option("--alias", o->http.model_name, "model id in the API (default: the file name without .gguf)");
  cmd->add_option("--parallel", o->parallel, "sequences generated at once")->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--kv-mem", o->kv_mem, "KV cache pool size, e.g. 2G (default: ctx x parallel positions)");
  cmd->add_flag("--no-prefix-cache", o->no_prefix_cache,
                "compute every prompt in full instead of reusing the KV blocks of earlier requests' prefixes");
  cmd->add_option("--kv-dram", o->kv_dram,
                  "host memory for KV blocks the pool evicts, reused for prompts with the same prefix (e.g. 4G; "
                  "default: none)");
  cmd->add_option("--kv-disk", o->kv_disk,
                  "directory where computed KV blocks are kept across restarts and shared between servers of the "
                  "same model (default: none)");
  cmd->add_option("--kv-disk-size", o->kv_disk_size, "cap of the --kv-disk directory, e.g. 20G")->capture_default_str();
  cmd->add_option("--batch-tokens", o->batch_tokens, "most tokens per engine step (decode + prompt chunks)")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  cmd->add_option("--prefill-chunk", o->prefill_chunk,
                  "most prompt tokens per step while other sequences are generating (bounds their latency)")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  cmd->add_option("--max-queue", o->max_queue, "waiting requests beyond which new ones get 429")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--body-limit", o->http.max_body_bytes, "largest request body in bytes (413 beyond)")
      ->capture_default_str()->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  cmd->add_option("--grace", o->grace_s, "seconds in-flight requests get to finish on SIGINT/SIGTERM")
      ->capture_default_str()->check(CLI::Range(0.0, 3600.0));
  cmd->callback([o] { serve(*o); });
}

}  // namespace tandem::cli
