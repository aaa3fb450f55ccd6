// Values of the Jinja interpreter, with Python's semantics where templates can see them
// (truthiness, str(), ==, ordering, floor division). Lists and dicts are shared by reference, as
// in Python, so `ns.x = ...` and `list.append(...)` act on the object every name refers to.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace tandem::model::jinja {

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion order, as Python's dict
// A callable: positional args, keyword args.
using Callable = std::function<Value(std::vector<Value>&, std::vector<std::pair<std::string, Value>>&)>;

struct Undefined {};
struct None {};

struct Value {
  std::variant<Undefined, None, bool, int64_t, double, std::string, std::shared_ptr<List>,
               std::shared_ptr<Dict>, std::shared_ptr<Callable>>
      v;

  Value() = default;
  Value(None n) : v(n) {}
  Value(bool b) : v(b) {}
  Value(int64_t i) : v(i) {}
  Value(int i) : v(static_cast<int64_t>(i)) {}
  Value(double d) : v(d) {}
  Value(std::string s) : v(std::move(s)) {}
  Value(const char* s) : v(std::string(s)) {}
  Value(List l) : v(std::make_shared<List>(std::move(l))) {}
  Value(Dict d) : v(std::make_shared<Dict>(std::move(d))) {}
  static Value function(Callable f) {
    Value x;
    x.v = std::make_shared<Callable>(std::move(f));
    return x;
  }

  bool is_undefined() const { return std::holds_alternative<Undefined>(v); }
  bool is_none() const { return std::holds_alternative<None>(v); }
  bool is_bool() const { return std::holds_alternative<bool>(v); }
  bool is_int() const { return std::holds_alternative<int64_t>(v); }
  bool is_float() const { return std::holds_alternative<double>(v); }
  bool is_number() const { return is_int() || is_float(); }
  bool is_string() const { return std::holds_alternative<std::string>(v); }
  bool is_list() const { return std::holds_alternative<std::shared_ptr<List>>(v); }
  bool is_dict() const { return std::holds_alternative<std::shared_ptr<Dict>>(v); }
  bool is_callable() const { return std::holds_alternative<std::shared_ptr<Callable>>(v); }

  // Accessors; a value of another type is an InputError naming both (never bad_variant_access).
  const std::string& str() const { return *get<std::string>("string"); }
  List& list() const { return **get<std::shared_ptr<List>>("list"); }
  Dict& dict() const { return **get<std::shared_ptr<Dict>>("dict"); }
  Callable& callable() const { return **get<std::shared_ptr<Callable>>("callable"); }
  // The value as a number; InputError for anything that is not a number or bool (and, for
  // integer(), for a float that is not finite or does not fit in int64).
  double number() const;
  int64_t integer() const;

  bool truthy() const;
  std::string to_str() const;   // Python str(); undefined prints as ""
  std::string repr() const;     // Python repr() (inside lists and dicts)
  const Value* find(const std::string& key) const;  // dict lookup, or null
  std::string type_name() const;
  template <class T>
  const T* get(const char* want) const {
    if (const T* p = std::get_if<T>(&v)) return p;
    type_error(want);
  }
  [[noreturn]] void type_error(const char* want) const;
};

bool equal(const Value& a, const Value& b);
// Python ordering for numbers and strings; throws InputError for other types.
bool less(const Value& a, const Value& b);

// JSON as transformers' tojson writes it: json.dumps(x, ensure_ascii=False, indent=indent),
// so ", " and ": " separators without indent, "," and ": " with it.
std::string to_json(const Value& x, int indent = -1, int depth = 0);

}  // namespace tandem::model::jinja
