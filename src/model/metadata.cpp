#include "model/metadata.h"

#include "core/error.h"

namespace tandem::model {

void Metadata::fail(std::string_view key, std::string_view problem) const {
  throw_input("{}: metadata key {}: {}", file_->name(), key, problem);
}

std::optional<int64_t> Metadata::find_int(std::string_view key) const {
  const gguf::Value* v = file_->find(key);
  if (!v) return std::nullopt;
  if (auto i = v->as_int()) return i;
  fail(key, fmt::format("expected an integer, found a value of type {}",
                        gguf::value_type_name(v->type())));
}

std::optional<double> Metadata::find_number(std::string_view key) const {
  const gguf::Value* v = file_->find(key);
  if (!v) return std::nullopt;
  if (auto d = v->as_number()) return d;
  fail(key, fmt::format("expected a number, found a value of type {}",
                        gguf::value_type_name(v->type())));
}

std::optional<std::string> Metadata::find_string(std::string_view key) const {
  const gguf::Value* v = file_->find(key);
  if (!v) return std::nullopt;
  if (auto* s = v->as_string()) return *s;
  fail(key, fmt::format("expected a string, found a value of type {}",
                        gguf::value_type_name(v->type())));
}

std::optional<bool> Metadata::find_bool(std::string_view key) const {
  const gguf::Value* v = file_->find(key);
  if (!v) return std::nullopt;
  if (auto* b = v->get<bool>()) return *b;
  if (auto i = v->as_int()) return *i != 0;
  fail(key, fmt::format("expected a bool, found a value of type {}",
                        gguf::value_type_name(v->type())));
}

int64_t Metadata::get_int(std::string_view key) const {
  if (auto v = find_int(key)) return *v;
  fail(key, "missing (required)");
}

double Metadata::get_number(std::string_view key) const {
  if (auto v = find_number(key)) return *v;
  fail(key, "missing (required)");
}

std::string Metadata::get_string(std::string_view key) const {
  if (auto v = find_string(key)) return *v;
  fail(key, "missing (required)");
}

bool Metadata::get_bool(std::string_view key) const {
  if (auto v = find_bool(key)) return *v;
  fail(key, "missing (required)");
}

std::optional<int64_t> Metadata::find_int_in(std::string_view key, int64_t lo, int64_t hi) const {
  auto v = find_int(key);
  if (v && (*v < lo || *v > hi)) fail(key, fmt::format("value {} is outside [{}, {}]", *v, lo, hi));
  return v;
}

int64_t Metadata::get_int_in(std::string_view key, int64_t lo, int64_t hi) const {
  if (auto v = find_int_in(key, lo, hi)) return *v;
  fail(key, "missing (required)");
}

}  // namespace tandem::model
