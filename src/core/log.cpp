#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace tandem {
namespace {

LogLevel level_from_env() {
  const char* v = std::getenv("TANDEM_LOG");
  if (v == nullptr) return LogLevel::Warn;
  if (std::strcmp(v, "error") == 0) return LogLevel::Error;
  if (std::strcmp(v, "info") == 0) return LogLevel::Info;
  if (std::strcmp(v, "debug") == 0) return LogLevel::Debug;
  return LogLevel::Warn;
}

std::atomic<int>& level_ref() {
  static std::atomic<int> level{static_cast<int>(level_from_env())};
  return level;
}

}  // namespace

LogLevel log_level() { return static_cast<LogLevel>(level_ref().load(std::memory_order_relaxed)); }

void set_log_level(LogLevel level) { level_ref().store(static_cast<int>(level)); }

void log_write(LogLevel level, std::string_view msg) {
  static std::mutex mu;
  static constexpr const char* kNames[] = {"error", "warn", "info", "debug"};
  std::lock_guard lock(mu);
  std::fprintf(stderr, "tandem: %s: %.*s\n", kNames[static_cast<int>(level)],
               static_cast<int>(msg.size()), msg.data());
}

}  // namespace tandem
