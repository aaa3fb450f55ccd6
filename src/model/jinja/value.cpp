#include "model/jinja/value.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"

namespace tandem::model::jinja {

bool Value::truthy() const {
  return std::visit(
      [](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Undefined> || std::is_same_v<T, None>) return false;
        else if constexpr (std::is_same_v<T, bool>) return x;
        else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) return x != 0;
        else if constexpr (std::is_same_v<T, std::string>) return !x.empty();
        else if constexpr (std::is_same_v<T, std::shared_ptr<List>> || std::is_same_v<T, std::shared_ptr<Dict>>) return !x->empty();
        else return true;
      },
      v);
}

namespace {

std::string py_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == std::floor(d) && std::fabs(d) < 1e16) return fmt::format("{:.1f}", d);
  return fmt::format("{}", d);  // shortest round trip, as Python's repr
}

std::string py_repr_string(const std::string& s) {
  // Python prefers single quotes unless the string contains one and no double quote.
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) out += std::string("\\") + q;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out + q;
}

}  // namespace

std::string Value::repr() const {
  if (is_string()) return py_repr_string(str());
  if (is_undefined()) return "";
  return to_str();
}

std::string Value::to_str() const {
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Undefined>) return "";
        else if constexpr (std::is_same_v<T, None>) return "None";
        else if constexpr (std::is_same_v<T, bool>) return x ? "True" : "False";
        else if constexpr (std::is_same_v<T, int64_t>) return std::to_string(x);
        else if constexpr (std::is_same_v<T, double>) return py_float(x);
        else if constexpr (std::is_same_v<T, std::string>) return x;
        else if constexpr (std::is_same_v<T, std::shared_ptr<List>>) {
          std::string s = "[";
          for (size_t i = 0; i < x->size(); ++i) s += (i ? ", " : "") + (*x)[i].repr();
          return s + "]";
        } else if constexpr (std::is_same_v<T, std::shared_ptr<Dict>>) {
          std::string s = "{";
          for (size_t i = 0; i < x->size(); ++i)
            s += (i ? ", " : "") + py_repr_string((*x)[i].first) + ": " + (*x)[i].second.repr();
          return s + "}";
        } else {
          return "<function>";
        }
      },
      v);
}

void Value::type_error(const char* want) const {
  throw_input("chat template: expected a {}, got {}", want, type_name());
}

double Value::number() const {
  if (is_int()) return static_cast<double>(std::get<int64_t>(v));
  if (is_bool()) return std::get<bool>(v) ? 1.0 : 0.0;
  if (is_float()) return std::get<double>(v);
  type_error("number");
}

int64_t Value::integer() const {
  if (is_int()) return std::get<int64_t>(v);
  if (is_bool()) return std::get<bool>(v) ? 1 : 0;
  if (is_float()) {
    const double d = std::get<double>(v);
    // [-2^63, 2^63): the doubles that convert to int64 without undefined behaviour.
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
      throw_input("chat template: {} does not fit an integer", d);
    return static_cast<int64_t>(d);
  }
  type_error("number");
}

std::string Value::type_name() const {
  static const char* names[] = {"undefined", "none", "bool", "int", "float", "string", "list", "dict", "function"};
  return names[v.index()];
}

const Value* Value::find(const std::string& key) const {
  if (!is_dict()) return nullptr;
  for (const auto& [k, val] : dict())
    if (k == key) return &val;
  return nullptr;
}

bool equal(const Value& a, const Value& b) {
  if ((a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool())) return a.number() == b.number();
  if (a.v.index() != b.v.index()) return false;
  if (a.is_string()) return a.str() == b.str();
  if (a.is_list()) {
    if (a.list().size() != b.list().size()) return false;
    for (size_t i = 0; i < a.list().size(); ++i)
      if (!equal(a.list()[i], b.list()[i])) return false;
    return true;
  }
  if (a.is_dict()) {
    if (a.dict().size() != b.dict().size()) return false;
    for (const auto& [k, val] : a.dict()) {
      const Value* o = b.find(k);
      if (!o || !equal(val, *o)) return false;
    }
    return true;
  }
  if (a.is_callable()) return &a.callable() == &b.callable();
  return true;  // none == none, undefined == undefined
}

bool less(const Value& a, const Value& b) {
  if ((a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool())) return a.number() < b.number();
  if (a.is_string() && b.is_string()) return a.str() < b.str();
  if (a.is_list() && b.is_list()) {
    const auto &x = a.list(), &y = b.list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (less(x[i], y[i])) return true;
      if (less(y[i], x[i])) return false;
    }
    return x.size() < y.size();
  }
  throw_input("chat template: cannot compare {} with {}", a.type_name(), b.type_name());
}

namespace {

void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7F) out += fmt::format("\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
  }
  out += '"';
}

}  // namespace

std::string to_json(const Value& x, int indent, int depth) {
  std::string out;
  std::string nl, nl_end;
  if (indent >= 0) {
    nl.assign(1, '\n').append(static_cast<size_t>(indent * (depth + 1)), ' ');
    nl_end.assign(1, '\n').append(static_cast<size_t>(indent * depth), ' ');
  }
  const char* sep = indent >= 0 ? "," : ", ";
  if (x.is_undefined() || x.is_none()) return "null";
  if (x.is_bool()) return std::get<bool>(x.v) ? "true" : "false";
  if (x.is_int()) return std::to_string(std::get<int64_t>(x.v));
  if (x.is_float()) return x.to_str();
  if (x.is_string()) {
    json_string(out, x.str());
    return out;
  }
  if (x.is_list()) {
    if (x.list().empty()) return "[]";
    out += "[";
    for (size_t i = 0; i < x.list().size(); ++i) {
      if (i) out.append(sep);
      out.append(nl).append(to_json(x.list()[i], indent, depth + 1));
    }
    return out.append(nl_end).append("]");
  }
  if (x.is_dict()) {
    if (x.dict().empty()) return "{}";
    out += "{";
    bool first = true;
    for (const auto& [k, val] : x.dict()) {
      if (!first) out.append(sep);
      out.append(nl);
      first = false;
      json_string(out, k);
      out.append(": ").append(to_json(val, indent, depth + 1));
    }
    return out.append(nl_end).append("}");
  }
  throw_input("chat template: tojson cannot serialize a {}", x.type_name());
}

}  // namespace tandem::model::jinja
