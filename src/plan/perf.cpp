#include "plan/perf.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace tandem::plan {

Precision parse_precision(const std::string& s) {
  if (s == "bf16" || s == "fp16") return Precision::BF16;
  if (s == "fp8") return Precision::FP8;
  if (s == "int8") return Precision::INT8;
  throw_input("--precision {}: one of bf16, fp8, int8", s);
}

const char* to_string(Precision p) {
  switch (p) {
    case Precision::BF16: return "bf16";
    case Precision::FP8: return "fp8";
    case Precision::INT8: return "int8";
  }
  return "?";
}

std::string Plan::str() const { return fmt::format("tp={},ep={},dp={},pp={}", tp, ep, dp, pp); }

Plan parse_plan(const std::string& s) {
  Plan p;
  size_t at = 0;
  while (at <= s.size()) {
    const size_t end = std::min(s.find(',', at), s.size());
    const std::string part = s.substr(at, end - at);
    const size_t eq = part.find('=');
    if (eq == std::string::npos) throw_input("--plan {}: '{}' is not key=value (tp, ep, dp, pp)", s, part);
    const std::string key = part.substr(0, eq), val = part.substr(eq + 1);
    int v = 0;
    try {
      size_t used = 0;
      v = std::stoi(val, &used);
      if (used != val.size()) throw std::invalid_argument(val);
    } catch (const std::exception&) {
      throw_input("--plan {}: '{}' is not a whole number", s, val);
    }
    if (v < 1 || v > 1 << 20) throw_input("--plan {}: {}={} (must be 1 or more)", s, key, v);
    if (key == "tp") p.tp = v;
    else if (key == "ep") p.ep = v;
    else if (key == "dp") p.dp = v;
    else if (key == "pp") p.pp = v;
    else throw_input("--plan {}: unknown key '{}' (tp, ep, dp, pp)", s, key);
    at = end + 1;
  }
  if (p.ep > p.tp * p.dp) throw_input("--plan {}: ep={} exceeds the tp x dp = {} ranks of a stage", s, p.ep, p.tp * p.dp);
  return p;
}

namespace {

// One compute unit (a die) of the system's chip, with its family's efficiencies.
struct Unit {
  double gemm_peak, attn_peak, mem_bw, mem_bytes;  // FLOP/s, FLOP/s, B/s, B
  double vec_bw;                                   // B/s of per-token vector work; 0: not modelled
  double up_bw, up_lat, out_bw, out_lat;           // B/s, s
  double gemm_eff, attn_eff, mem_eff, comm_eff, overlap, a2a_lat, step_overhead;
  int domain_units;  // units in one scale-up domain
  double power_w;    // per chip
  int dies;
};

Unit unit_of(const Catalog::Resolved& hw, Precision p) {
  const Chip& c = *hw.chip;
  const Family& f = *hw.family;
  const double d = c.dies;
  double peak = c.bf16_tflops.value;
  if (p == Precision::FP8) peak = c.fp8_tflops.known() ? c.fp8_tflops.value : c.int8_tops.known() ? c.int8_tops.value : peak;
  if (p == Precision::INT8) peak = c.int8_tops.known() ? c.int8_tops.value : c.fp8_tflops.known() ? c.fp8_tflops.value : peak;
  Unit u{};
  u.gemm_peak = peak * 1e12 / d;
  u.attn_peak = (c.attention_tflops.known() ? c.attention_tflops.value : c.bf16_tflops.value) * 1e12 / d;
  u.vec_bw = c.vector_gbps.known() ? c.vector_gbps.value * 1e9 / d : 0;
  u.mem_bw = c.memory_tbps.value * 1e12 / d;
  u.mem_bytes = c.memory_gb.value * 1e9 / d;
  u.up_bw = c.scale_up_gbps.value * 1e9 / d;
  u.up_lat = c.scale_up_latency_us.value * 1e-6;
  u.out_bw = c.scale_out_gbps.value * 1e9 / d;
  u.out_lat = c.scale_out_latency_us.value * 1e-6;
  u.gemm_eff = f.gemm.value;
  u.attn_eff = f.attention.value;
  u.mem_eff = f.memory.value;
  u.comm_eff = f.comm.value;
  u.overlap = f.overlap.value;
  u.a2a_lat = f.a2a_latency_us.value * 1e-6;
  u.step_overhead = f.step_overhead.value;
  u.domain_units = static_cast<int>(hw.system->scale_up_domain.value) * c.dies;
  u.power_w = c.power_w.value;
  u.dies = c.dies;
  return u;
}

// Usable share of a unit's memory (the rest: runtime, activations, fragmentation; vLLM's default
// gpu_memory_utilization is 0.9).
constexpr double kUsableMemory = 0.9;

struct Step {
  std::vector<Cost> costs;
  double compute = 0, comm = 0;
  // The family's step overhead on the computation; micro-batches hide `overlap` of the shorter
  // of computation and communication.
  double Seconds(const Unit& u) const {
    const double c = compute * u.step_overhead;
    return c + comm - u.overlap * std::min(c, comm);
  }
};

struct Shape {
  const ModelDesc& m;
  const Plan& p;
  double wb;       // bytes per weight
  double act;      // bytes per activation element sent in dispatch
  double frac;     // share of the layers on one stage
  double dense_layers, moe_layers, layers;  // per stage
  double kv_split;
  double reduce_bytes = 2;  // per activation element summed across a tensor group
};

Shape shape_of(const ModelDesc& m, const Plan& p, const Workload& w) {
  const double wb = m.file_weight_bytes > 0 ? m.file_weight_bytes / static_cast<double>(m.total_params())
                                            : (w.weights == Precision::BF16 ? 2.0 : 1.0);
  const double frac = 1.0 / p.pp;
  const double dense = static_cast<double>(m.moe() ? m.n_dense_layers : m.n_layer) * frac;
  const double kv_split = m.mla() ? 1.0 : static_cast<double>(std::min<int64_t>(p.tp, m.n_kv_head));
  return {m, p, wb, w.weights == Precision::BF16 ? 2.0 : 1.0, frac, dense, static_cast<double>(m.n_moe_layers()) * frac,
          static_cast<double>(m.n_layer) * frac, kv_split};
}

// The link a group of n units spans, starting at a domain boundary.
double group_bw(const Unit& u, int n) { return (n <= u.domain_units ? u.up_bw : u.out_bw) * u.comm_eff; }
double group_lat(const Unit& u, int n) { return n <= u.domain_units ? u.up_lat : u.out_lat; }

double allreduce(const Unit& u, int n, double bytes) {
  if (n <= 1) return 0;
  return 2.0 * (n - 1) / n * bytes / group_bw(u, n) + 2.0 * (n - 1) * group_lat(u, n);
}

// Ring all-gather of `bytes` in all (each unit holds 1/n of them).
double allgather(const Unit& u, int n, double bytes) {
  if (n <= 1) return 0;
  return (n - 1.0) / n * bytes / group_bw(u, n) + (n - 1) * group_lat(u, n);
}

// All-to-all of `bytes` leaving each unit for the others of n units, `copies_out`: how many of a
// token's copies cross the scale-out network at most (node-limited routing), of `copies`.
double alltoall(const Unit& u, int n, double bytes, double copies, double copies_out_limit) {
  if (n <= 1) return 0;
  const double remote = bytes * (n - 1) / n;
  if (n <= u.domain_units) return remote / (u.up_bw * u.comm_eff) + u.up_lat + u.a2a_lat;
  // Part stays within the unit's own domain (scale-up), the rest crosses scale-out.
  double out_share = 1.0 - static_cast<double>(u.domain_units) / n;
  if (copies_out_limit > 0 && copies > 0) out_share = std::min(out_share, copies_out_limit / copies * out_share);
  const double out = remote * out_share, up = remote - out;
  return std::max(out / (u.out_bw * u.comm_eff), up / (u.up_bw * u.comm_eff)) + u.out_lat + u.a2a_lat;
}

void add(Step& st, const Unit& u, std::string name, double flops, double bytes, bool attention = false) {
  const double peak = attention ? u.attn_peak * u.attn_eff : u.gemm_peak * u.gemm_eff;
  const double t = std::max(flops / peak, bytes / (u.mem_bw * u.mem_eff));
  st.costs.push_back({std::move(name), flops, bytes, t, false});
  st.compute += t;
}

void add_comm(Step& st, std::string name, double bytes, double t) {
  st.costs.push_back({std::move(name), 0, bytes, t, true});
  st.comm += t;
}

// One unit's step: its tensor group's micro-batch of `tokens` tokens through the unit's share of
// its stage's weights (1/tp of each split matrix), attention over `context` positions for the
// group's `kv_sequences` sequences (decode reads their KV; prefill keeps it on chip), the
// experts for its 1/tp of the tokens, and the collectives.
Step step(const Shape& s, const Unit& u, double tokens, double context, double kv_sequences, bool absorbed,
          double logits_tokens, double kv_bytes_elem) {
  const ModelDesc& m = s.m;
  const Plan& p = s.p;
  Step st;
  const double tp = p.tp;
  const double proj = static_cast<double>(m.attn_params()) * s.layers / tp +
                      static_cast<double>(m.router_params()) * s.moe_layers;
  add(st, u, "attention projections", 2 * tokens * proj, proj * s.wb);
  const double kv = kv_sequences * context * m.kv_bytes_per_token(kv_bytes_elem) * s.frac / s.kv_split;
  add(st, u, "attention", tokens * m.attn_flops_per_token(context, absorbed) * s.frac / tp, kv, true);
  if (u.vec_bw > 0) {  // measured profiles: norms, residual adds, rotary embedding, KV store
    const ModelDesc::VectorWork v = m.vector_elements_per_layer();
    const double bytes = 4 * tokens * s.layers * (v.replicated + v.split / tp);
    st.costs.push_back({"vector work", 0, bytes, bytes / u.vec_bw, false});
    st.compute += bytes / u.vec_bw;
  }
  if (s.dense_layers > 0) {
    const double w = static_cast<double>(m.dense_ffn_params()) * s.dense_layers / tp;
    add(st, u, "dense FFN", 2 * tokens * w, w * s.wb);
  }
  if (m.moe()) {
    const double e = static_cast<double>(m.expert_params());
    const double used = static_cast<double>(m.n_expert_used);
    if (m.n_expert_shared > 0) {
      const double w = e * static_cast<double>(m.n_expert_shared) * s.moe_layers / tp;
      add(st, u, "shared experts", 2 * tokens * w, w * s.wb);
    }
    if (p.ep > 1) {
      const double mine = tokens / tp;  // the unit's share of the group's tokens goes to the experts
      const double held = std::max(1.0, std::ceil(static_cast<double>(m.n_expert) / p.ep));
      add(st, u, "routed experts", 2 * mine * used * e * s.moe_layers, held * e * s.moe_layers * s.wb);
      const double copies_out = static_cast<double>(m.route_domain_limit);
      add_comm(st, "expert dispatch", mine * used * m.d_model * s.act * s.moe_layers,
               s.moe_layers * alltoall(u, p.ep, mine * used * m.d_model * s.act, used, copies_out));
      add_comm(st, "expert combine", mine * used * m.d_model * 2 * s.moe_layers,
               s.moe_layers * alltoall(u, p.ep, mine * used * m.d_model * 2, used, copies_out));
    } else {
      // Every expert split over the tensor group; a small batch touches only some of them.
      const double touched = std::min(static_cast<double>(m.n_expert), tokens * used);
      add(st, u, "routed experts", 2 * tokens * used * e * s.moe_layers / tp, touched * e * s.moe_layers / tp * s.wb);
    }
  }
  const double out = static_cast<double>(m.output_params()) / tp;
  add(st, u, "output", 2 * logits_tokens * out, out * s.wb);
  if (p.tp > 1 && logits_tokens > 0) {  // the output split by vocabulary rows: the logits gathered
    const double bytes = logits_tokens * static_cast<double>(m.vocab) * s.reduce_bytes;
    add_comm(st, "logits all-gather", bytes, allgather(u, p.tp, bytes));
  }
  if (p.tp > 1) {
    const double bytes = tokens * m.d_model * s.reduce_bytes;
    add_comm(st, "tensor all-reduce", 2 * s.layers * bytes, 2 * s.layers * allreduce(u, p.tp, bytes));
  }
  if (p.pp > 1) {
    const double bytes = tokens * m.d_model * 2;
    const int span = p.ranks();
    add_comm(st, "pipeline send", bytes, bytes / group_bw(u, span) + group_lat(u, span));
  }
  return st;
}

double weight_bytes_per_unit(const Shape& s) {
  const ModelDesc& m = s.m;
  const Plan& p = s.p;
  double w = static_cast<double>(m.attn_params()) * s.layers / p.tp + static_cast<double>(m.router_params()) * s.moe_layers;
  w += static_cast<double>(m.dense_ffn_params()) * s.dense_layers / p.tp;
  if (m.moe()) {
    const double e = static_cast<double>(m.expert_params());
    w += e * static_cast<double>(m.n_expert_shared) * s.moe_layers / p.tp;
    w += (p.ep > 1 ? std::max(1.0, std::ceil(static_cast<double>(m.n_expert) / p.ep)) : static_cast<double>(m.n_expert) / p.tp) * e *
         s.moe_layers;
  }
  // The embeddings on the first stage, the output matrix on the last (with one stage, both).
  const double ends = static_cast<double>(m.embed_params() + (m.tied ? 0 : m.output_params())) / p.tp;
  w += p.pp == 1 ? ends : static_cast<double>(m.output_params()) / p.tp;
  return w * s.wb;
}

}  // namespace

Estimate estimate(const ModelDesc& m, const Catalog::Resolved& hw, int chips, const Plan& p, const Workload& w) {
  const Unit u0 = unit_of(hw, w.weights);
  Shape s = shape_of(m, p, w);
  if (hw.family->name == "cpu") s.reduce_bytes = 4;  // tandem's own group sums f32 activations
  Estimate e;
  e.plan = p;
  e.chips = chips;
  e.units = chips * u0.dies;
  e.power_w_per_chip = u0.power_w;
  e.memory_capacity_bytes = u0.mem_bytes * u0.dies;
  // CPUs may run more ranks than units: each rank then has its share of a unit's compute and
  // memory bandwidth (tandem's own group runs on one host).
  Unit u = u0;
  if (hw.family->name == "cpu" && p.ranks() > e.units && p.ranks() % e.units == 0) {
    const double share = static_cast<double>(p.ranks()) / e.units;
    // Measured with this many ranks: the group's own rates.
    const Chip& c = *hw.chip;
    const bool measured = c.group_ranks * chips == p.ranks();
    auto per_rank = [&](const Sourced& group, double scale, double alone) {
      return measured && group.known() ? group.value * scale / c.group_ranks : alone / share;
    };
    u.mem_bw = per_rank(c.group_memory_tbps, 1e12, u.mem_bw);
    u.gemm_peak = per_rank(c.group_tflops, 1e12, u.gemm_peak);
    u.attn_peak = per_rank(c.group_attention_tflops, 1e12, u.attn_peak);
    u.vec_bw = per_rank(c.group_vector_gbps, 1e9, u.vec_bw);
    u.mem_bytes /= share;
    e.units = p.ranks();
    u.dies = p.ranks() / chips;
  }
  if (e.units % p.ranks() != 0) {
    e.reject = fmt::format("{} ranks do not divide the {} units ({} chips x {} dies)", p.ranks(), e.units, chips, u.dies);
    return e;
  }
  if (m.moe() && p.ep > 1 && p.ep > p.tp * p.dp) {
    e.reject = fmt::format("ep={} exceeds the tp x dp = {} ranks of a stage", p.ep, p.tp * p.dp);
    return e;
  }
  if (p.pp > m.n_layer) {
    e.reject = fmt::format("pp={} exceeds the {} layers", p.pp, m.n_layer);
    return e;
  }
  const double batch_chip = w.batch > 0 ? w.batch : 1;
  const double b = batch_chip / u.dies;  // sequences per unit (per micro-batch)
  const double tokens_per_seq = 1 + w.spec_tokens;
  const double produced = 1 + w.spec_tokens * w.spec_accept;

  const double weights = weight_bytes_per_unit(s);
  // The tensor group holds tp x b sequences; each unit their KV over kv_split.
  const double group_seqs = b * p.tp;
  const double kv = group_seqs * static_cast<double>(w.in + w.out) * m.kv_bytes_per_token(w.kv_bytes) / s.kv_split;
  e.weight_bytes_per_chip = weights * u.dies;
  e.kv_bytes_per_chip = kv * u.dies;
  e.memory_per_chip_bytes = (weights + kv) * u.dies;
  e.batch_per_chip = batch_chip;

  // Decode: every sequence of the micro-batch advances by one step; context is the average over
  // the generation.
  const double ctx = static_cast<double>(w.in) + static_cast<double>(w.out) / 2;
  const double t = group_seqs * tokens_per_seq;
  Step d = step(s, u, t, ctx, group_seqs, m.mla(), t, w.kv_bytes);
  e.decode_step_s = d.Seconds(u);
  e.tpot_s = e.decode_step_s * p.pp / produced;
  e.decode_tokens_per_s_per_chip = b * produced / (e.decode_step_s * p.pp) * u.dies;
  e.decode_costs = std::move(d.costs);

  // Prefill: a batch of prefill_tokens per unit (whole prompts; a tensor group shares tp x that),
  // causal attention over half the prompt on average, logits for each prompt's last token.
  const double sp = std::max(static_cast<double>(w.prefill_tokens), std::ceil(static_cast<double>(w.in) / p.tp));
  const double group_tokens = sp * p.tp;
  Step pf = step(s, u, group_tokens, static_cast<double>(w.in) / 2, 0, false, group_tokens / static_cast<double>(w.in),
                 w.kv_bytes);
  const double kv_write = group_tokens * m.kv_bytes_per_token(w.kv_bytes) * s.frac / s.kv_split;
  pf.costs.push_back({"KV write", 0, kv_write, kv_write / (u.mem_bw * u.mem_eff), false});
  pf.compute += kv_write / (u.mem_bw * u.mem_eff);
  const double stage = pf.Seconds(u);
  e.ttft_s = stage * p.pp;
  e.prefill_tokens_per_s_per_chip = sp / (stage * p.pp) * u.dies;
  e.prefill_costs = std::move(pf.costs);

  e.fits = weights + kv <= u.mem_bytes * kUsableMemory;
  if (!e.fits)
    e.reject = fmt::format("memory: {:.1f} GB per chip (weights {:.1f}, KV {:.1f}) over {:.1f} usable of {:.0f}",
                           e.memory_per_chip_bytes / 1e9, e.weight_bytes_per_chip / 1e9, e.kv_bytes_per_chip / 1e9,
                           e.memory_capacity_bytes * kUsableMemory / 1e9, e.memory_capacity_bytes / 1e9);
  return e;
}

Estimate best_batch(const ModelDesc& m, const Catalog::Resolved& hw, int chips, const Plan& p, Workload w, double slo_tpot_s) {
  auto at = [&](double b) {
    w.batch = b;
    return estimate(m, hw, chips, p, w);
  };
  Estimate one = at(1);
  if (!one.reject.empty() && !one.fits) return one;
  if (slo_tpot_s > 0 && one.tpot_s > slo_tpot_s) {
    one.fits = false;
    one.reject = fmt::format("SLO: TPOT {:.1f} ms at batch 1 over {:.1f} ms", one.tpot_s * 1e3, slo_tpot_s * 1e3);
    return one;
  }
  // The largest batch that fits and meets the SLO (both monotone in the batch).
  double lo = 1, hi = 2;
  auto ok = [&](const Estimate& e) { return e.fits && (slo_tpot_s <= 0 || e.tpot_s <= slo_tpot_s); };
  while (hi < 1e6 && ok(at(hi))) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1) {
    const double mid = std::floor((lo + hi) / 2);
    if (ok(at(mid))) lo = mid;
    else hi = mid;
  }
  return at(lo);
}

}  // namespace tandem::plan
