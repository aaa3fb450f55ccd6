#include "plan/search.h"

#include <algorithm>

#include <fmt/format.h>

namespace tandem::plan {

Estimate evaluate(const ModelDesc& m, const Catalog::Resolved& hw, int chips, const Plan& p, const Workload& w,
                  const SearchOptions& o) {
  Estimate e = o.fixed_batch ? estimate(m, hw, chips, p, w) : best_batch(m, hw, chips, p, w, o.slo_tpot_s);
  if (e.fits && o.fixed_batch && o.slo_tpot_s > 0 && e.tpot_s > o.slo_tpot_s) {
    e.fits = false;
    e.reject = fmt::format("SLO: TPOT {:.1f} ms over {:.1f} ms", e.tpot_s * 1e3, o.slo_tpot_s * 1e3);
  }
  if (e.fits && o.slo_ttft_s > 0 && e.ttft_s > o.slo_ttft_s) {
    e.fits = false;
    e.reject = fmt::format("SLO: TTFT {:.2f} s over {:.2f} s", e.ttft_s, o.slo_ttft_s);
  }
  return e;
}

std::vector<Estimate> search(const ModelDesc& m, const Catalog::Resolved& hw, int chips, const Workload& w,
                             const SearchOptions& o) {
  const int units = chips * hw.chip->dies;
  std::vector<Estimate> out;
  // Instances of R ranks (R divides the units), R = tp x pp x dp; tp and pp powers of two.
  for (int r = 1; r <= units; ++r) {
    if (units % r != 0) continue;
    for (int tp = 1; tp <= r && tp <= 64; tp *= 2) {
      if (r % tp != 0 || (!m.mla() && tp > m.n_head)) continue;
      for (int pp = 1; tp * pp <= r && pp <= m.n_layer && pp <= 64; pp *= 2) {
        if (r % (tp * pp) != 0) continue;
        const int dp = r / (tp * pp);
        std::vector<int> eps = {1};
        if (m.moe() && tp * dp > 1) eps.push_back(tp * dp);
        for (int ep : eps) out.push_back(evaluate(m, hw, chips, {tp, pp, ep, dp}, w, o));
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Estimate& a, const Estimate& b) {
    if (a.fits != b.fits) return a.fits;
    return a.decode_tokens_per_s_per_chip > b.decode_tokens_per_s_per_chip;
  });
  return out;
}

}  // namespace tandem::plan
