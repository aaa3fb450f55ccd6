// GGUF metadata values: every type of the format, arrays included (nested to any depth the
// reader allows). The variant's index is the GGUF type id, so a value knows its wire type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tandem::gguf {

enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
  String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
  Count
};

std::string_view value_type_name(ValueType t);  // "u32", "str", "arr", ...
// Bytes of one element on the wire; 0 for the variable-size String and Array.
size_t value_type_size(ValueType t);

struct Value;

// An array: element type (also when empty) and the elements.
struct Array {
  ValueType type = ValueType::U8;
  std::vector<Value> items;
  bool operator==(const Array&) const;
};

struct Value {
  using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                               std::string, Array, uint64_t, int64_t, double>;
  Storage v;

  Value() = default;
  template <typename T>
  Value(T x) : v(std::move(x)) {}  // NOLINT: implicit from any stored type
  Value(const char* s) : v(std::string(s)) {}

  ValueType type() const { return static_cast<ValueType>(v.index()); }
  template <typename T>
  const T* get() const { return std::get_if<T>(&v); }

  // Any integer type that fits, else nullopt.
  std::optional<int64_t> as_int() const;
  std::optional<double> as_number() const;  // integers and floats
  const std::string* as_string() const { return get<std::string>(); }
  const Array* as_array() const { return get<Array>(); }

  bool operator==(const Value& o) const { return v == o.v; }
};

}  // namespace tandem::gguf
