#include "server/metrics.h"

#include <fmt/format.h>

namespace tandem::server {

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < kBounds.size() && v > kBounds[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++n_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  uint64_t cum = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cum += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], cum);
  }
  cum += counts_.back();
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, cum, name, sum_, name, n_);
}

void Metrics::request(const std::string& endpoint, int status) {
  std::lock_guard lock(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::generation(const engine::Usage& u) {
  std::lock_guard lock(mu_);
  prompt_tokens_ += static_cast<uint64_t>(u.prompt_tokens);
  generated_tokens_ += static_cast<uint64_t>(u.completion_tokens);
  if (u.completion_tokens > 0) ttft_.observe(u.ttft_s);
  if (u.completion_tokens > 1)
    tpot_.observe((u.total_s - u.ttft_s) / static_cast<double>(u.completion_tokens - 1));
  e2e_.observe(u.total_s);
}

std::string Metrics::render(const engine::EngineStats* e) const {
  std::lock_guard lock(mu_);
  std::string out;
  out += "# HELP tandem_requests_total HTTP requests by endpoint and status code.\n# TYPE tandem_requests_total counter\n";
  for (const auto& [k, n] : requests_)
    out += fmt::format("tandem_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", k.first, k.second, n);
  out += fmt::format("# HELP tandem_prompt_tokens_total Prompt tokens processed.\n# TYPE tandem_prompt_tokens_total counter\n"
                     "tandem_prompt_tokens_total {}\n", prompt_tokens_);
  out += fmt::format("# HELP tandem_generation_tokens_total Tokens generated.\n# TYPE tandem_generation_tokens_total counter\n"
                     "tandem_generation_tokens_total {}\n", generated_tokens_);
  ttft_.render(out, "tandem_time_to_first_token_seconds", "Time from request to its first generated token.");
  tpot_.render(out, "tandem_time_per_output_token_seconds", "Mean time per generated token after the first, per request.");
  e2e_.render(out, "tandem_request_duration_seconds", "Time from request to its last token.");
  if (e) {
    auto metric = [&](const char* type, const char* name, const char* help, auto v) {
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, v);
    };
    metric("gauge", "tandem_queue_length", "Requests waiting to run.", e->waiting);
    metric("gauge", "tandem_running_sequences", "Sequences in the running batch.", e->running);
    metric("gauge", "tandem_kv_blocks_used", "KV cache blocks in use.", e->blocks_used);
    metric("gauge", "tandem_kv_blocks_free", "KV cache blocks no sequence holds (free or cached).",
           e->blocks_total - e->blocks_used);
    metric("gauge", "tandem_kv_blocks_cached", "KV cache blocks no sequence holds, kept for their prefix.",
           e->blocks_cached);
    metric("counter", "tandem_preemptions_total", "Sequences preempted for lack of KV blocks.", e->preemptions);
    metric("counter", "tandem_prefix_shared_tokens_total",
           "Prompt tokens whose KV blocks came from the prefix cache instead of being computed.", e->shared_tokens);
    metric("counter", "tandem_prefix_lookup_tokens_total",
           "Prompt tokens looked up in the prefix cache (the hit rate is shared / lookup).", e->lookup_tokens);
    out += fmt::format(
        "# HELP tandem_kv_tier_hits_total KV blocks found in a lower tier and copied back instead of computed.\n"
        "# TYPE tandem_kv_tier_hits_total counter\n"
        "tandem_kv_tier_hits_total{{tier=\"host\"}} {}\ntandem_kv_tier_hits_total{{tier=\"disk\"}} {}\n",
        e->tiers.host_hits, e->tiers.disk_hits);
    out += fmt::format(
        "# HELP tandem_kv_tier_blocks_moved_total KV blocks moved down a tier (evicted to host memory, written to "
        "disk).\n# TYPE tandem_kv_tier_blocks_moved_total counter\n"
        "tandem_kv_tier_blocks_moved_total{{to=\"host\"}} {}\ntandem_kv_tier_blocks_moved_total{{to=\"disk\"}} {}\n",
        e->tiers.to_host, e->tiers.to_disk);
    out += fmt::format(
        "# HELP tandem_kv_tier_bytes Bytes of KV blocks held by a lower tier.\n# TYPE tandem_kv_tier_bytes gauge\n"
        "tandem_kv_tier_bytes{{tier=\"host\"}} {}\ntandem_kv_tier_bytes{{tier=\"disk\"}} {}\n",
        e->host_bytes, e->disk.bytes);
    out += fmt::format(
        "# HELP tandem_kv_tier_misses_total KV blocks looked for in a lower tier and not found there (each once per "
        "request).\n# TYPE tandem_kv_tier_misses_total counter\n"
        "tandem_kv_tier_misses_total{{tier=\"host\"}} {}\ntandem_kv_tier_misses_total{{tier=\"disk\"}} {}\n",
        e->tiers.host_misses, e->tiers.disk_misses);
    metric("counter", "tandem_kv_tier_moved_bytes_total", "Bytes of KV blocks moved between tiers, both ways.",
           (e->tiers.host_hits + e->tiers.disk_hits + e->tiers.to_host + e->tiers.to_disk) * e->tiers.block_bytes);
    metric("counter", "tandem_kv_disk_read_bytes_total", "Bytes read from the disk tier.", e->disk.read_bytes);
    metric("counter", "tandem_kv_disk_discarded_total",
           "Disk tier files that failed their checks (corrupt, truncated) and were deleted.", e->disk.discarded);
    metric("counter", "tandem_engine_steps_total", "Forward steps run.", e->steps);
    metric("counter", "tandem_engine_rows_total", "Tokens through the forward pass (prompt and generated).", e->rows);
    metric("counter", "tandem_engine_forward_seconds_total", "Time in the forward pass.", e->forward_s);
    metric("counter", "tandem_engine_sample_seconds_total", "Time sampling and streaming after the forward pass.", e->sample_s);
  }
  return out;
}

}  // namespace tandem::server
