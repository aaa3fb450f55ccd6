// Logging to stderr. Level from TANDEM_LOG (error|warn|info|debug), default warn.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace tandem {

enum class LogLevel : int { Error = 0, Warn = 1, Info = 2, Debug = 3 };

LogLevel log_level();
void set_log_level(LogLevel level);
void log_write(LogLevel level, std::string_view msg);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  if (static_cast<int>(level) <= static_cast<int>(log_level()))
    log_write(level, fmt::format(f, std::forward<Args>(args)...));
}

#define TANDEM_LOG_ERROR(...) ::tandem::log(::tandem::LogLevel::Error, __VA_ARGS__)
#define TANDEM_LOG_WARN(...) ::tandem::log(::tandem::LogLevel::Warn, __VA_ARGS__)
#define TANDEM_LOG_INFO(...) ::tandem::log(::tandem::LogLevel::Info, __VA_ARGS__)
#define TANDEM_LOG_DEBUG(...) ::tandem::log(::tandem::LogLevel::Debug, __VA_ARGS__)

}  // namespace tandem
