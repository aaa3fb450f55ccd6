// Progress of a long operation on stderr: on a terminal a bar redrawn in place with rate and
// ETA; otherwise a plain line every few seconds (and one at the end), so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tandem {

class Progress {
 public:
  // total: units of work (e.g. bytes); unit: what to call them in the rate ("B", "tensors").
  Progress(std::string label, uint64_t total, std::string unit = "B");
  ~Progress();  // finishes the line
  void advance(uint64_t n);
  void finish();

 private:
  void draw(bool final);
  std::string label_, unit_;
  uint64_t total_, done_ = 0;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace tandem
