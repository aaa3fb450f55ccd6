#include "plan/frontier.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tandem::plan {

std::vector<FrontierPoint> frontier(const ModelDesc& m, const Catalog::Resolved& hw, int chips, const Workload& w) {
  std::vector<FrontierPoint> all;
  SearchOptions o;
  for (const Estimate& best : search(m, hw, chips, w, o)) {
    if (!best.fits) continue;
    // The plan at batches 1, 2, 4, ... up to its largest that fits, and that largest.
    std::vector<double> batches;
    for (double b = 1; b < best.batch_per_chip; b *= 2) batches.push_back(b);
    batches.push_back(best.batch_per_chip);
    for (double b : batches) {
      Workload x = w;
      x.batch = b;
      const Estimate e = estimate(m, hw, chips, best.plan, x);
      if (e.fits) all.push_back({e.tpot_s, e.decode_tokens_per_s_per_chip, b, best.plan});
    }
  }
  std::sort(all.begin(), all.end(), [](const FrontierPoint& a, const FrontierPoint& b) {
    return a.tpot_s < b.tpot_s || (a.tpot_s == b.tpot_s && a.tokens_per_s_per_chip > b.tokens_per_s_per_chip);
  });
  std::vector<FrontierPoint> out;
  for (const FrontierPoint& p : all)
    if (out.empty() || p.tokens_per_s_per_chip > out.back().tokens_per_s_per_chip) out.push_back(p);
  return out;
}

namespace {

// A "nice" step for about n ticks over [0, hi].
double tick_step(double hi, int n) {
  const double raw = hi / n, mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double f : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (raw <= f * mag) return f * mag;
  return 10 * mag;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

}  // namespace

std::string frontier_svg(const std::vector<FrontierSeries>& series, const std::string& title) {
  constexpr double W = 820, H = 480, L = 80, R = 250, T = 50, B = 60;
  double xmax = 0, ymax = 0;
  for (const auto& s : series)
    for (const auto& p : s.points) {
      xmax = std::max(xmax, p.tpot_s * 1e3);
      ymax = std::max(ymax, p.tokens_per_s_per_chip);
    }
  if (xmax <= 0) xmax = 1;
  if (ymax <= 0) ymax = 1;
  const double xs = tick_step(xmax, 8), ys = tick_step(ymax, 6);
  xmax = std::ceil(xmax / xs) * xs;
  ymax = std::ceil(ymax / ys) * ys;
  auto X = [&](double ms) { return L + (W - L - R) * ms / xmax; };
  auto Y = [&](double v) { return H - B - (H - T - B) * v / ymax; };
  static const char* colors[] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"28\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
      W, H, W, H, L, escape(title));
  for (double x = 0; x <= xmax + 1e-9; x += xs)
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#e5e5e5\"/>"
                       "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4:g}</text>\n",
                       X(x), T, H - B, H - B + 18, x);
  for (double y = 0; y <= ymax + 1e-9; y += ys)
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#e5e5e5\"/>"
                       "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5:g}</text>\n",
                       L, Y(y), W - R, L - 6, Y(y) + 4, y);
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>"
                     "<line x1=\"{0}\" y1=\"{3}\" x2=\"{0}\" y2=\"{1}\" stroke=\"black\"/>\n",
                     L, H - B, W - R, T);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">time per output token (ms)</text>\n", (L + W - R) / 2, H - 18);
  svg += fmt::format("<text transform=\"translate(20 {}) rotate(-90)\" text-anchor=\"middle\">decode tokens/s per chip</text>\n",
                     (T + H - B) / 2);
  for (size_t i = 0; i < series.size(); ++i) {
    const char* c = colors[i % std::size(colors)];
    std::string pts;
    for (const auto& p : series[i].points) pts += fmt::format("{:.1f},{:.1f} ", X(p.tpot_s * 1e3), Y(p.tokens_per_s_per_chip));
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2.5\" points=\"{}\"/>\n", c, pts);
    for (const auto& p : series[i].points)
      svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"><title>{} batch {:g}: {:.1f} ms, {:.0f} tokens/s</title></circle>\n",
                         X(p.tpot_s * 1e3), Y(p.tokens_per_s_per_chip), c, p.plan.str(), p.batch_per_chip, p.tpot_s * 1e3,
                         p.tokens_per_s_per_chip);
    const double ly = T + 20 + 22.0 * static_cast<double>(i);
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"3\"/>"
                       "<text x=\"{4}\" y=\"{5}\">{6}</text>\n",
                       W - R + 15, ly, W - R + 40, c, W - R + 46, ly + 4, escape(series[i].name));
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace tandem::plan
