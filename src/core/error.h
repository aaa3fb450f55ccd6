// Errors with context. Library code throws; only the CLI decides exit codes.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace tandem {

// What went wrong with the input (a file, a flag, a request): the CLI maps it to exit 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failure at run time that is not the caller's input (I/O, resources, a broken invariant).
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void throw_input(fmt::format_string<Args...> f, Args&&... args) {
  throw InputError(fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void throw_runtime(fmt::format_string<Args...> f, Args&&... args) {
  throw RuntimeError(fmt::format(f, std::forward<Args>(args)...));
}

[[noreturn]] void check_failed(const char* file, int line, const char* cond, const std::string& msg);

}  // namespace tandem

// A broken invariant: names file:line and the condition. Never used for bad input.
#define TANDEM_CHECK(cond, ...)                                                    \
  do {                                                                             \
    if (!(cond)) [[unlikely]]                                                      \
      ::tandem::check_failed(__FILE__, __LINE__, #cond, ::fmt::format(__VA_ARGS__)); \
  } while (0)
