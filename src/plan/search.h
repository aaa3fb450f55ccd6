// Plan search: every way to split a model over a system's units (tensor, pipeline, expert and
// data parallel degrees; instances of the model side by side), each at the largest decode batch
// that fits and meets the TPOT SLO, ranked by decode tokens/s per chip; plans that fail say why.
#pragma once

#include <vector>

#include "plan/perf.h"

namespace tandem::plan {

struct SearchOptions {
  double slo_tpot_s = 0, slo_ttft_s = 0;  // 0: no bound
  bool fixed_batch = false;                // the workload's batch as given, not searched
};

// All candidate plans for `chips` chips of the system, best first (those that fit and meet the
// SLOs), then the rejected ones with their reasons.
std::vector<Estimate> search(const ModelDesc& m, const Catalog::Resolved& hw, int chips, const Workload& w,
                             const SearchOptions& o);
// One given plan, at the given batch or the best one.
Estimate evaluate(const ModelDesc& m, const Catalog::Resolved& hw, int chips, const Plan& p, const Workload& w,
                  const SearchOptions& o);

}  // namespace tandem::plan
