// The throughput-latency frontier of a model on a system: for every candidate plan and decode
// batch, decode tokens/s per chip against TPOT; the frontier keeps the points no other beats on
// both. frontier_svg draws one or more systems' frontiers on shared axes.
#pragma once

#include <string>
#include <vector>

#include "plan/search.h"

namespace tandem::plan {

struct FrontierPoint {
  double tpot_s = 0, tokens_per_s_per_chip = 0, batch_per_chip = 0;
  Plan plan;
};

// Points sorted by TPOT, throughput rising (plans that fit; batches 1, 2, 4, ... to the most that fit).
std::vector<FrontierPoint> frontier(const ModelDesc& m, const Catalog::Resolved& hw, int chips, const Workload& w);

struct FrontierSeries {
  std::string name;
  std::vector<FrontierPoint> points;
};
// A standalone SVG document: TPOT (ms) across, decode tokens/s per chip up, one line per series.
std::string frontier_svg(const std::vector<FrontierSeries>& series, const std::string& title);

}  // namespace tandem::plan
