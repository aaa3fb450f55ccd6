// tandem plan: predicted performance of a model on a system from the hardware catalog, and the
// best way to split it (src/plan/).
#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "cli/plan_calibrate.h"
#include "plan/frontier.h"
#include "plan/search.h"

namespace tandem::cli {
namespace {

struct PlanArgs {
  std::string model, cluster, workload = "in=4096,out=256", plan, precision = "bf16", spec, slo_tpot, slo_ttft;
  std::vector<std::string> compare, hardware;
  std::string calibrate, svg;
  int chips = 0, top = 5;
  double batch = 0;
  int64_t prefill_tokens = 16384;
  bool json = false;
};

// "50ms", "2s", "0.05": seconds.
double parse_seconds(const std::string& flag, const std::string& s) {
  if (s.empty()) return 0;
  double scale = 1;
  std::string num = s;
  if (s.ends_with("ms")) {
    scale = 1e-3;
    num = s.substr(0, s.size() - 2);
  } else if (s.ends_with("s")) {
    num = s.substr(0, s.size() - 1);
  }
  try {
    size_t used = 0;
    const double v = std::stod(num, &used);
    if (used == num.size() && v > 0) return v * scale;
  } catch (const std::exception&) {
  }
  throw_input("{} {}: a positive time such as 50ms or 2s", flag, s);
}

// "key=value,key=value" into numbers, keys checked against `keys`.
std::vector<std::pair<std::string, double>> parse_pairs(const std::string& flag, const std::string& s,
                                                        const std::vector<std::string>& keys) {
  std::vector<std::pair<std::string, double>> out;
  size_t at = 0;
  while (at <= s.size()) {
    const size_t end = std::min(s.find(',', at), s.size());
    const std::string part = s.substr(at, end - at);
    const size_t eq = part.find('=');
    const std::string key = part.substr(0, eq);
    if (eq == std::string::npos || std::find(keys.begin(), keys.end(), key) == keys.end())
      throw_input("{} {}: '{}' is not one of {}=NUMBER", flag, s, part, fmt::join(keys, "=, "));
    try {
      size_t used = 0;
      const double v = std::stod(part.substr(eq + 1), &used);
      if (used != part.size() - eq - 1 || v < 0) throw std::invalid_argument(part);
      out.emplace_back(key, v);
    } catch (const std::exception&) {
      throw_input("{} {}: '{}' is not a non-negative number", flag, s, part.substr(eq + 1));
    }
    at = end + 1;
  }
  return out;
}

plan::Workload workload_of(const PlanArgs& a) {
  plan::Workload w;
  for (const auto& [k, v] : parse_pairs("--workload", a.workload, {"in", "out"})) {
    if (v < 1) throw_input("--workload {}: {} must be at least 1", a.workload, k);
    (k == "in" ? w.in : w.out) = static_cast<int64_t>(v);
  }
  if (!a.spec.empty())
    for (const auto& [k, v] : parse_pairs("--spec", a.spec, {"tokens", "accept"})) {
      if (k == "accept" && v > 1) throw_input("--spec {}: accept is a share, 0 to 1", a.spec);
      (k == "tokens" ? w.spec_tokens : w.spec_accept) = v;
    }
  w.batch = a.batch;
  w.prefill_tokens = a.prefill_tokens;
  w.weights = plan::parse_precision(a.precision);
  return w;
}

nlohmann::json to_json(const plan::Estimate& e) {
  nlohmann::json j = {{"plan", {{"tp", e.plan.tp}, {"ep", e.plan.ep}, {"dp", e.plan.dp}, {"pp", e.plan.pp}}},
                      {"fits", e.fits},
                      {"chips", e.chips},
                      {"memory_per_chip_bytes", e.memory_per_chip_bytes},
                      {"weight_bytes_per_chip", e.weight_bytes_per_chip},
                      {"kv_bytes_per_chip", e.kv_bytes_per_chip},
                      {"batch_per_chip", e.batch_per_chip},
                      {"prefill_tokens_per_s_per_chip", e.prefill_tokens_per_s_per_chip},
                      {"ttft_s", e.ttft_s},
                      {"decode_tokens_per_s_per_chip", e.decode_tokens_per_s_per_chip},
                      {"tpot_s", e.tpot_s},
                      {"power_w_per_chip", e.power_w_per_chip}};
  if (!e.reject.empty()) j["reject"] = e.reject;
  auto costs = [](const std::vector<plan::Cost>& cs) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& c : cs) a.push_back({{"op", c.name}, {"flops", c.flops}, {"bytes", c.bytes}, {"seconds", c.seconds}, {"comm", c.comm}});
    return a;
  };
  j["decode_step"] = costs(e.decode_costs);
  j["prefill_step"] = costs(e.prefill_costs);
  return j;
}

void print_row(const plan::Estimate& e) {
  fmt::print("  {:<26} {:>7.1f} GB {:>7.0f} {:>10.0f} {:>8.3f} {:>10.0f} {:>8.1f}{}\n", e.plan.str(),
             e.memory_per_chip_bytes / 1e9, e.batch_per_chip, e.prefill_tokens_per_s_per_chip, e.ttft_s,
             e.decode_tokens_per_s_per_chip, e.tpot_s * 1e3, e.fits ? "" : "  rejected: " + e.reject);
}

void print_header() {
  fmt::print("  {:<26} {:>10} {:>7} {:>10} {:>8} {:>10} {:>8}\n", "plan", "mem/chip", "batch", "prefill/s", "TTFT s",
             "decode/s", "TPOT ms");
}

void run(const PlanArgs& a) {
  if (!a.calibrate.empty()) {
    if (plan::builtin_model(a.model)) throw_input("--calibrate times the kernels on a model file: -m FILE.gguf, not {}", a.model);
    calibrate(a.model, a.calibrate);
    return;
  }
  const plan::Catalog cat = plan::Catalog::with(a.hardware);
  const plan::ModelDesc m = plan::load_model_desc(a.model);
  const plan::Workload w = workload_of(a);
  plan::SearchOptions o;
  o.slo_tpot_s = parse_seconds("--slo-tpot", a.slo_tpot);
  o.slo_ttft_s = parse_seconds("--slo-ttft", a.slo_ttft);
  o.fixed_batch = a.batch > 0;
  std::vector<std::string> clusters = a.compare;
  if (clusters.empty()) {
    if (a.cluster.empty()) throw_input("tandem plan: --cluster NAME or --compare A B is required");
    clusters = {a.cluster};
  }
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& name : clusters) {
    const auto hw = cat.resolve(name);
    const int chips = a.chips > 0 ? a.chips : static_cast<int>(hw.system->chips.value);
    std::vector<plan::Estimate> es;
    if (!a.plan.empty()) es.push_back(plan::evaluate(m, hw, chips, plan::parse_plan(a.plan), w, o));
    else es = plan::search(m, hw, chips, w, o);
    const int shown = a.compare.empty() ? a.top : 1;
    if (a.json) {
      nlohmann::json c = {{"cluster", name}, {"chip", hw.chip->name}, {"chips", chips}, {"model", m.name},
                          {"precision", plan::to_string(w.weights)}, {"workload", {{"in", w.in}, {"out", w.out}}}};
      nlohmann::json plans = nlohmann::json::array();
      for (size_t i = 0; i < es.size() && (static_cast<int>(i) < shown || !es[i].fits); ++i)
        if (static_cast<int>(i) < shown || plans.size() < static_cast<size_t>(shown) + 20) plans.push_back(to_json(es[i]));
      c["plans"] = plans;
      out.push_back(c);
      continue;
    }
    fmt::print("{} ({} x {}), {} ({:.0f} B parameters, {:.1f} B per token), {}, in={} out={}\n", name, chips,
               hw.chip->name, m.name, static_cast<double>(m.total_params()) / 1e9,
               static_cast<double>(m.active_params()) / 1e9, plan::to_string(w.weights), w.in, w.out);
    print_header();
    int n = 0;
    for (const auto& e : es)
      if (e.fits && n++ < shown) print_row(e);
    if (n == 0) fmt::print("  no plan fits\n");
    if (a.compare.empty()) {
      int r = 0;
      for (const auto& e : es)
        if (!e.fits && r++ < 5) print_row(e);
    } else if (n > 0) {
      const plan::Estimate& e = es.front();
      fmt::print("  per chip:   decode {:.0f} tokens/s, prefill {:.0f} tokens/s, {:.1f} GB, {:.0f} W ({:.2f} decode tokens/s per W)\n",
                 e.decode_tokens_per_s_per_chip, e.prefill_tokens_per_s_per_chip, e.memory_per_chip_bytes / 1e9,
                 e.power_w_per_chip, e.power_w_per_chip > 0 ? e.decode_tokens_per_s_per_chip / e.power_w_per_chip : 0.0);
      fmt::print("  per system: decode {:.0f} tokens/s, prefill {:.0f} tokens/s, {:.0f} kW ({:.1f} decode tokens/s per kW)\n",
                 e.decode_tokens_per_s_per_chip * chips, e.prefill_tokens_per_s_per_chip * chips,
                 hw.system->power_kw.value, e.decode_tokens_per_s_per_chip * chips / hw.system->power_kw.value);
    }
    fmt::print("\n");
  }
  if (a.json) fmt::print("{}\n", out.dump(1));
  if (!a.svg.empty()) {
    std::vector<plan::FrontierSeries> series;
    for (const std::string& name : clusters) {
      const auto hw = cat.resolve(name);
      const int chips = a.chips > 0 ? a.chips : static_cast<int>(hw.system->chips.value);
      series.push_back({fmt::format("{} ({} chips)", name, chips), plan::frontier(m, hw, chips, w)});
    }
    std::ofstream f(a.svg);
    f << plan::frontier_svg(series, fmt::format("{}, {}, in={} out={}: decode throughput against latency", m.name,
                                                plan::to_string(w.weights), w.in, w.out));
    if (!f) throw_input("--svg {}: cannot write the file", a.svg);
    if (!a.json) fmt::print("wrote {}\n", a.svg);
  }
}

}  // namespace

void add_plan(CLI::App& app) {
  auto* cmd = app.add_subcommand("plan", "predict a model's performance on a system you may not own and choose how to split it");
  static PlanArgs a;
  cmd->add_option("-m,--model", a.model, "a GGUF file, or a built-in model: deepseek-v3, deepseek-r1, qwen3-235b-a22b, llama-3-8b, llama-3-70b, llama-3-405b")
      ->required();
  cmd->add_option("--cluster", a.cluster, "a system of the catalog (plan/hardware/): cloudmatrix384, gb200-nvl72, hgx-h800, ...");
  cmd->add_option("--compare", a.compare, "two or more systems side by side, each with its best plan")->expected(2, 8);
  cmd->add_option("--chips", a.chips, "chips used (default: the whole system)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--workload", a.workload, "prompt and generated tokens per request")->capture_default_str();
  cmd->add_option("--plan", a.plan, "evaluate one plan instead of searching: tp=1,ep=320,dp=320[,pp=1]");
  cmd->add_option("--batch", a.batch, "decode sequences per chip (default: the most that fit within the SLO)")
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--precision", a.precision, "weights and GEMMs: bf16, fp8 or int8")->capture_default_str();
  cmd->add_option("--spec", a.spec, "speculative decoding: tokens=N,accept=P (e.g. multi-token prediction tokens=1,accept=0.7)");
  cmd->add_option("--prefill-tokens", a.prefill_tokens, "prompt tokens per unit in one prefill batch")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->add_option("--slo-tpot", a.slo_tpot, "time per output token bound, e.g. 50ms");
  cmd->add_option("--slo-ttft", a.slo_ttft, "time to first token bound, e.g. 2s");
  cmd->add_option("--top", a.top, "plans listed")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--hardware", a.hardware, "more catalog files (JSON, as in plan/hardware/), e.g. what --calibrate wrote")
      ->check(CLI::ExistingFile);
  cmd->add_option("--calibrate", a.calibrate,
                  "measure this machine with tandem's kernels on -m FILE.gguf (and, under mpirun -n N, its all-reduce) and "
                  "write a catalog file with chip and system 'local' to this path");
  cmd->add_option("--svg", a.svg, "draw each system's decode throughput against TPOT (the frontier over plans and batches) to this file");
  cmd->add_flag("--json", a.json, "print JSON: per cluster, the plans with prefill_tokens_per_s_per_chip, "
                                  "decode_tokens_per_s_per_chip, ttft_s, tpot_s, memory_per_chip_bytes, fits, and per-operator costs");
  cmd->callback([] { run(a); });
}

}  // namespace tandem::cli
