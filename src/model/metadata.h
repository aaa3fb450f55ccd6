// Typed access to GGUF metadata with precise errors: "<file>: metadata key <key>: <problem>".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/file.h"

namespace tandem::model {

class Metadata {
 public:
  explicit Metadata(const gguf::File& file) : file_(&file) {}

  const gguf::File& file() const { return *file_; }
  bool has(std::string_view key) const { return file_->find(key) != nullptr; }

  // Required values: a missing key or a wrong type throws InputError naming both.
  int64_t get_int(std::string_view key) const;
  double get_number(std::string_view key) const;
  std::string get_string(std::string_view key) const;
  bool get_bool(std::string_view key) const;

  // Optional values: nullopt when missing, InputError when present with a wrong type.
  std::optional<int64_t> find_int(std::string_view key) const;
  std::optional<double> find_number(std::string_view key) const;
  std::optional<std::string> find_string(std::string_view key) const;
  std::optional<bool> find_bool(std::string_view key) const;

  // An integer in [lo, hi] (inclusive); out of range throws InputError.
  int64_t get_int_in(std::string_view key, int64_t lo, int64_t hi) const;
  std::optional<int64_t> find_int_in(std::string_view key, int64_t lo, int64_t hi) const;

  [[noreturn]] void fail(std::string_view key, std::string_view problem) const;

 private:
  const gguf::File* file_;
};

}  // namespace tandem::model
