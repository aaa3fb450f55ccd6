#include "gguf/value.h"

#include <limits>

namespace tandem::gguf {

std::string_view value_type_name(ValueType t) {
  static constexpr std::string_view kNames[] = {"u8",  "i8",  "u16", "i16", "u32", "i32", "f32",
                                                "bool", "str", "arr", "u64", "i64", "f64"};
  static_assert(std::size(kNames) == static_cast<size_t>(ValueType::Count));
  const auto i = static_cast<size_t>(t);
  return i < std::size(kNames) ? kNames[i] : "?";
}

size_t value_type_size(ValueType t) {
  static constexpr size_t kSizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  static_assert(std::size(kSizes) == static_cast<size_t>(ValueType::Count));
  const auto i = static_cast<size_t>(t);
  return i < std::size(kSizes) ? kSizes[i] : 0;
}

bool Array::operator==(const Array& o) const { return type == o.type && items == o.items; }

std::optional<int64_t> Value::as_int() const {
  return std::visit(
      [](const auto& x) -> std::optional<int64_t> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, uint64_t>) {
          if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
          return static_cast<int64_t>(x);
        } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          return static_cast<int64_t>(x);
        } else {
          return std::nullopt;
        }
      },
      v);
}

std::optional<double> Value::as_number() const {
  if (auto f = get<float>()) return *f;
  if (auto d = get<double>()) return *d;
  if (auto u = get<uint64_t>()) return static_cast<double>(*u);
  if (auto i = as_int()) return static_cast<double>(*i);
  return std::nullopt;
}

}  // namespace tandem::gguf
