#include "core/progress.h"

#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>

namespace tandem {
namespace {

std::string human(double v, const std::string& unit) {
  if (unit != "B") return fmt::format("{:.0f} {}", v, unit);
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  return fmt::format("{:.1f} {}", v, units[u]);
}

}  // namespace

Progress::Progress(std::string label, uint64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::advance(uint64_t n) {
  done_ += n;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since >= (tty_ ? 0.1 : 2.0)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final) {
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0.0;
  const double eta = rate > 0 && total_ > done_ ? static_cast<double>(total_ - done_) / rate : 0.0;
  const std::string stats = fmt::format("{:3.0f}% {} of {}, {}/s, {}", frac * 100, human(static_cast<double>(done_), unit_),
                                        human(static_cast<double>(total_), unit_), human(rate, unit_),
                                        final ? fmt::format("{:.1f} s", secs) : fmt::format("ETA {:.0f} s", eta));
  if (tty_) {
    const int width = 30;
    const int fill = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.append(static_cast<size_t>(width - fill), '.');
    fmt::print(stderr, "\r{} [{}] {}\x1b[K{}", label_, bar, stats, final ? "\n" : "");
  } else {
    fmt::print(stderr, "{}: {}\n", label_, stats);
  }
  std::fflush(stderr);
}

}  // namespace tandem
