// The planner's performance model: for a model, a system and a plan (how the model is split
// over the system's compute units), memory per chip and the speed of prefill and decode.
//
// Each operator costs the larger of its FLOPs over the unit's peak times the family's kernel
// efficiency and its bytes over the memory bandwidth times the memory efficiency (a roofline
// with measured efficiency factors). Collectives follow an alpha-beta model on the links the
// group spans (scale-up within the system's scale-up domain, scale-out beyond): ring all-reduce
// for tensor parallelism, all-to-all for expert dispatch and combine, point to point between
// pipeline stages, plus the family's measured fixed time per all-to-all call. Micro-batches
// hide the family's overlap share of the shorter of computation and communication. Units: a chip's dies are the units a plan's ranks map to (a 910C is two).
#pragma once

#include <string>
#include <vector>

#include "plan/hardware.h"
#include "plan/model_desc.h"

namespace tandem::plan {

enum class Precision { BF16, FP8, INT8 };
Precision parse_precision(const std::string& s);  // InputError for others
const char* to_string(Precision p);

// Ranks of one model instance: tp x dp x pp; ep splits the routed experts over ep of the tp x dp
// ranks of a stage (1: every rank holds every expert, split like the dense FFN).
struct Plan {
  int tp = 1, pp = 1, ep = 1, dp = 1;
  int ranks() const { return tp * pp * dp; }
  std::string str() const;
};
Plan parse_plan(const std::string& s);  // "tp=2,ep=8,dp=8[,pp=1]"; InputError naming the part

struct Workload {
  int64_t in = 4096, out = 256;  // prompt and generated tokens per request
  double batch = 0;              // decode sequences per chip (0: the most that fit, up to the SLO)
  int64_t prefill_tokens = 16384;  // prompt tokens per unit per prefill batch (at least `in`)
  double spec_tokens = 0, spec_accept = 0;  // speculative tokens per step and their acceptance
  Precision weights = Precision::BF16;
  double kv_bytes = 2;  // per KV element
};

// One operator's share of a step on one unit.
struct Cost {
  std::string name;
  double flops = 0, bytes = 0, seconds = 0;
  bool comm = false;
};

struct Estimate {
  Plan plan;
  int units = 0;       // compute units used (chips x dies)
  int chips = 0;
  bool fits = false;
  std::string reject;  // why not (memory, SLO), when rejected
  double memory_per_chip_bytes = 0, memory_capacity_bytes = 0;
  double weight_bytes_per_chip = 0, kv_bytes_per_chip = 0;
  double batch_per_chip = 0;
  double prefill_tokens_per_s_per_chip = 0, ttft_s = 0;
  double decode_tokens_per_s_per_chip = 0, tpot_s = 0;
  double decode_step_s = 0;
  double power_w_per_chip = 0;
  std::vector<Cost> decode_costs, prefill_costs;  // per unit, one step
};

// The estimate for one plan. batch 0 in the workload is taken as 1 here (see best_batch).
Estimate estimate(const ModelDesc& m, const Catalog::Resolved& hw, int chips, const Plan& p, const Workload& w);
// The largest decode batch per chip (sequences) that fits in memory and keeps TPOT within
// slo_tpot_s (0: no bound); its estimate (fits false with the reason when even 1 does not).
Estimate best_batch(const ModelDesc& m, const Catalog::Resolved& hw, int chips, const Plan& p, Workload w, double slo_tpot_s);

}  // namespace tandem::plan
