#include "model/jinja/builtins.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>

#include "core/error.h"

namespace tandem::model::jinja {
namespace {

[[noreturn]] void fail(int line, const std::string& what) { throw_input("chat template: line {}: {}", line, what); }

const Value* kwarg(const Kwargs& kw, const char* name) {
  for (const auto& [k, v] : kw)
    if (k == name) return &v;
  return nullptr;
}

Value arg(const Args& a, const Kwargs& kw, size_t i, const char* name, Value dflt = Value()) {
  if (i < a.size()) return a[i];
  if (const Value* v = kwarg(kw, name)) return *v;
  return dflt;
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string strip(const std::string& s, bool left, bool right, const Value& chars) {
  auto drop = [&](char c) { return chars.is_string() ? chars.str().find(c) != std::string::npos : is_space(c); };
  size_t b = 0, e = s.size();
  if (left) while (b < e && drop(s[b])) ++b;
  if (right) while (e > b && drop(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to, int64_t count = -1) {
  if (from.empty()) return s;
  size_t pos = 0;
  for (int64_t n = 0; (count < 0 || n < count) && (pos = s.find(from, pos)) != std::string::npos; ++n) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

std::string title(const std::string& s) {
  std::string out = s;
  bool start = true;
  for (char& c : out) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      c = static_cast<char>(start ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
      start = false;
    } else {
      start = true;
    }
  }
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

Value split(const std::string& s, const Value& sep, int64_t maxsplit) {
  List out;
  if (!sep.is_string()) {  // runs of white space, no empty strings
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && is_space(s[i])) ++i;
      if (i >= s.size()) break;
      size_t j = i;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) j = s.size();
      else while (j < s.size() && !is_space(s[j])) ++j;
      out.emplace_back(s.substr(i, j - i));
      i = j;
    }
    return Value(std::move(out));
  }
  const std::string& d = sep.str();
  if (d.empty()) throw_input("chat template: split: empty separator");
  size_t i = 0;
  for (;;) {
    const size_t j = (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) ? std::string::npos : s.find(d, i);
    if (j == std::string::npos) {
      out.emplace_back(s.substr(i));
      break;
    }
    out.emplace_back(s.substr(i, j - i));
    i = j + d.size();
  }
  return Value(std::move(out));
}

Value attribute(const Value& x, const std::string& path) {
  Value cur = x;
  size_t i = 0;
  while (i <= path.size()) {
    const size_t j = std::min(path.find('.', i), path.size());
    const Value* v = cur.find(path.substr(i, j - i));
    cur = v ? *v : Value();
    i = j + 1;
  }
  return cur;
}

}  // namespace

bool contains(const Value& v, const void* target, int depth) {
  if (depth > 64) return true;
  if (v.is_list()) {
    if (&v.list() == target) return true;
    for (const Value& x : v.list())
      if (contains(x, target, depth + 1)) return true;
  } else if (v.is_dict()) {
    if (&v.dict() == target) return true;
    for (const auto& [k, x] : v.dict())
      if (contains(x, target, depth + 1)) return true;
  }
  return false;
}

bool apply_test(const std::string& name, const Value& x, const Args& a, int line) {
  if (name == "defined") return !x.is_undefined();
  if (name == "undefined") return x.is_undefined();
  if (name == "none") return x.is_none();
  if (name == "string") return x.is_string();
  if (name == "number") return x.is_number();
  if (name == "integer") return x.is_int();
  if (name == "float") return x.is_float();
  if (name == "boolean") return x.is_bool();
  if (name == "true") return x.is_bool() && std::get<bool>(x.v);
  if (name == "false") return x.is_bool() && !std::get<bool>(x.v);
  if (name == "mapping") return x.is_dict();
  if (name == "sequence") return x.is_list() || x.is_string() || x.is_dict();
  if (name == "iterable") return x.is_list() || x.is_string() || x.is_dict();
  if (name == "callable") return x.is_callable();
  if (name == "lower") return x.is_string() && lower(x.str()) == x.str();
  if (name == "upper") return x.is_string() && upper(x.str()) == x.str();
  if (name == "odd" || name == "even") {
    if (!x.is_int()) fail(line, fmt::format("'{}' needs an integer", name));
    return (x.integer() % 2 != 0) == (name == "odd");
  }
  if (name == "divisibleby") return !a.empty() && a[0].integer() != 0 && x.integer() % a[0].integer() == 0;
  if (a.empty()) fail(line, fmt::format("unknown test '{}'", name));
  if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") return equal(x, a[0]);
  if (name == "ne" || name == "!=") return !equal(x, a[0]);
  if (name == "lt" || name == "lessthan") return less(x, a[0]);
  if (name == "gt" || name == "greaterthan") return less(a[0], x);
  if (name == "le") return !less(a[0], x);
  if (name == "ge") return !less(x, a[0]);
  if (name == "in") {
    if (a[0].is_list()) return std::any_of(a[0].list().begin(), a[0].list().end(), [&](const Value& v) { return equal(v, x); });
    if (a[0].is_string()) return a[0].str().find(x.to_str()) != std::string::npos;
    if (a[0].is_dict()) return a[0].find(x.to_str()) != nullptr;
    return false;
  }
  fail(line, fmt::format("unknown test '{}'", name));
}

Value apply_filter(const std::string& name, const Value& x, Args& a, Kwargs& kw, int line) {
  auto need_string = [&] {
    if (!x.is_string()) fail(line, fmt::format("filter '{}' needs a string, not a {}", name, x.type_name()));
    return x.str();
  };
  if (name == "trim") return Value(strip(x.to_str(), true, true, arg(a, kw, 0, "chars")));
  if (name == "length" || name == "count") {
    if (x.is_string()) return Value(static_cast<int64_t>(x.str().size()));
    if (x.is_list()) return Value(static_cast<int64_t>(x.list().size()));
    if (x.is_dict()) return Value(static_cast<int64_t>(x.dict().size()));
    if (x.is_undefined()) return Value(int64_t{0});
    fail(line, fmt::format("a {} has no length", x.type_name()));
  }
  if (name == "tojson") {
    const Value indent = arg(a, kw, 0, "indent");
    return Value(to_json(x, indent.is_int() ? static_cast<int>(indent.integer()) : -1));
  }
  if (name == "string") return Value(x.to_str());
  if (name == "safe") return x;
  if (name == "default" || name == "d") {
    const bool boolean = arg(a, kw, 1, "boolean", Value(false)).truthy();
    if (x.is_undefined() || (boolean && !x.truthy())) return arg(a, kw, 0, "default_value", Value(""));
    return x;
  }
  if (name == "upper") return Value(upper(x.to_str()));
  if (name == "lower") return Value(lower(x.to_str()));
  if (name == "capitalize") {
    std::string s = lower(x.to_str());
    if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    return Value(s);
  }
  if (name == "title") return Value(title(x.to_str()));
  if (name == "replace") {
    const Value count = arg(a, kw, 2, "count");
    return Value(replace_all(need_string(), arg(a, kw, 0, "old").to_str(), arg(a, kw, 1, "new").to_str(),
                             count.is_int() ? count.integer() : -1));
  }
  if (name == "int") {
    if (x.is_string()) {
      try {
        return Value(static_cast<int64_t>(std::stoll(x.str())));
      } catch (...) {
        return arg(a, kw, 0, "default", Value(int64_t{0}));
      }
    }
    if (x.is_number() || x.is_bool()) return Value(x.integer());
    return arg(a, kw, 0, "default", Value(int64_t{0}));
  }
  if (name == "float") {
    if (x.is_string()) {
      try {
        return Value(std::stod(x.str()));
      } catch (...) {
        return Value(0.0);
      }
    }
    return Value(x.is_number() || x.is_bool() ? x.number() : 0.0);
  }
  if (name == "abs") return x.is_int() ? Value(static_cast<int64_t>(std::llabs(x.integer()))) : Value(std::fabs(x.number()));
  if (name == "join") {
    if (!x.is_list()) fail(line, fmt::format("join needs a list, not a {}", x.type_name()));
    const std::string sep = arg(a, kw, 0, "d", Value("")).to_str();
    const Value attr = arg(a, kw, 1, "attribute");
    std::string out;
    for (size_t i = 0; i < x.list().size(); ++i)
      out += (i ? sep : "") + (attr.is_string() ? attribute(x.list()[i], attr.str()) : x.list()[i]).to_str();
    return Value(out);
  }
  if (name == "first" || name == "last") {
    if (x.is_list()) return x.list().empty() ? Value() : (name == "first" ? x.list().front() : x.list().back());
    if (x.is_string()) return x.str().empty() ? Value() : Value(std::string(1, name == "first" ? x.str().front() : x.str().back()));
    fail(line, fmt::format("{} needs a list or string", name));
  }
  if (name == "list") {
    if (x.is_list()) return x;
    List l;
    if (x.is_string()) for (char c : x.str()) l.emplace_back(std::string(1, c));
    else if (x.is_dict()) for (const auto& [k, v] : x.dict()) l.emplace_back(k);
    return Value(std::move(l));
  }
  if (name == "reverse") {
    if (x.is_string()) return Value(std::string(x.str().rbegin(), x.str().rend()));
    if (x.is_list()) {
      List l(x.list().rbegin(), x.list().rend());
      return Value(std::move(l));
    }
    fail(line, "reverse needs a list or string");
  }
  if (name == "items") {
    if (!x.is_dict()) fail(line, fmt::format("items needs a dict, not a {}", x.type_name()));
    List l;
    for (const auto& [k, v] : x.dict()) l.emplace_back(List{Value(k), v});
    return Value(std::move(l));
  }
  if (name == "unique") {
    if (!x.is_list()) fail(line, "unique needs a list");
    List l;
    for (const Value& v : x.list())
      if (std::none_of(l.begin(), l.end(), [&](const Value& u) { return equal(u, v); })) l.push_back(v);
    return Value(std::move(l));
  }
  if (name == "indent") {
    const int64_t width = arg(a, kw, 0, "width", Value(int64_t{4})).integer();
    const bool first = arg(a, kw, 1, "first", Value(false)).truthy();
    const std::string pad(static_cast<size_t>(std::max<int64_t>(0, width)), ' ');
    const std::string s = x.to_str();
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      out += s[i];
      if (s[i] == '\n' && i + 1 < s.size() && s[i + 1] != '\n') out += pad;
    }
    return Value(first ? pad + out : out);
  }
  if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject" || name == "map") {
    if (!x.is_list()) {
      if (x.is_undefined() || x.is_none()) return Value(List{});
      fail(line, fmt::format("{} needs a list, not a {}", name, x.type_name()));
    }
    List out;
    if (name == "map") {
      const Value attr = arg(Args{}, kw, 0, "attribute");
      if (attr.is_string()) {
        for (const Value& v : x.list()) out.push_back(attribute(v, attr.str()));
      } else if (!a.empty()) {
        Args rest(a.begin() + 1, a.end());
        for (const Value& v : x.list()) out.push_back(apply_filter(a[0].to_str(), v, rest, kw, line));
      }
      return Value(std::move(out));
    }
    const bool by_attr = name.ends_with("attr");
    const bool keep = name.starts_with("select");
    for (const Value& v : x.list()) {
      const Value subject = by_attr ? attribute(v, arg(a, kw, 0, "attribute").to_str()) : v;
      const size_t t = by_attr ? 1 : 0;
      bool r;
      if (a.size() <= t) r = subject.truthy();
      else r = apply_test(a[t].to_str(), subject, Args(a.begin() + static_cast<std::ptrdiff_t>(t) + 1, a.end()), line);
      if (r == keep) out.push_back(v);
    }
    return Value(std::move(out));
  }
  if (name == "dictsort") {
    if (!x.is_dict()) fail(line, "dictsort needs a dict");
    Dict d = x.dict();
    std::sort(d.begin(), d.end(), [](const auto& p, const auto& q) { return p.first < q.first; });
    List l;
    for (const auto& [k, v] : d) l.emplace_back(List{Value(k), v});
    return Value(std::move(l));
  }
  fail(line, fmt::format("unknown filter '{}'", name));
}

Value method(const Value& obj, const std::string& name, int line) {
  auto fn = [](auto f) { return Value::function(std::move(f)); };
  if (obj.is_string()) {
    const std::string s = obj.str();
    if (name == "startswith" || name == "endswith")
      return fn([s, name](Args& a, Kwargs&) {
        const std::string p = a.empty() ? "" : a[0].to_str();
        return Value(name == "startswith" ? s.starts_with(p) : s.ends_with(p));
      });
    if (name == "strip" || name == "lstrip" || name == "rstrip")
      return fn([s, name](Args& a, Kwargs&) {
        return Value(strip(s, name != "rstrip", name != "lstrip", a.empty() ? Value() : a[0]));
      });
    if (name == "split")
      return fn([s](Args& a, Kwargs& kw) {
        const Value ms = arg(a, kw, 1, "maxsplit", Value(int64_t{-1}));
        return split(s, arg(a, kw, 0, "sep"), ms.integer());
      });
    if (name == "upper") return fn([s](Args&, Kwargs&) { return Value(upper(s)); });
    if (name == "lower") return fn([s](Args&, Kwargs&) { return Value(lower(s)); });
    if (name == "title") return fn([s](Args&, Kwargs&) { return Value(title(s)); });
    if (name == "capitalize")
      return fn([s](Args&, Kwargs&) {
        std::string c = lower(s);
        if (!c.empty()) c[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(c[0])));
        return Value(c);
      });
    if (name == "replace")
      return fn([s](Args& a, Kwargs&) {
        return Value(replace_all(s, a.size() > 0 ? a[0].to_str() : "", a.size() > 1 ? a[1].to_str() : "",
                                 a.size() > 2 ? a[2].integer() : -1));
      });
    if (name == "find") return fn([s](Args& a, Kwargs&) {
        const size_t p = s.find(a.empty() ? "" : a[0].to_str());
        return Value(p == std::string::npos ? int64_t{-1} : static_cast<int64_t>(p));
      });
    if (name == "count") return fn([s](Args& a, Kwargs&) {
        const std::string sub = a.empty() ? "" : a[0].to_str();
        int64_t n = 0;
        for (size_t p = 0; !sub.empty() && (p = s.find(sub, p)) != std::string::npos; p += sub.size()) ++n;
        return Value(n);
      });
    return Value();
  }
  if (obj.is_list()) {
    Value self = obj;
    if (name == "append") return fn([self, line](Args& a, Kwargs&) {
        for (Value& v : a) {
          // A list that (through others) contains itself would print forever and never be freed.
          if (contains(v, &self.list())) fail(line, "cannot append a list to something inside it");
          self.list().push_back(v);
        }
        return Value(None{});
      });
    if (name == "pop") return fn([self, line](Args& a, Kwargs&) {
        List& l = self.list();
        if (l.empty()) fail(line, "pop from an empty list");
        int64_t i = a.empty() ? static_cast<int64_t>(l.size()) - 1 : a[0].integer();
        if (i < 0) i += static_cast<int64_t>(l.size());
        if (i < 0 || i >= static_cast<int64_t>(l.size())) fail(line, "pop index out of range");
        Value v = l[static_cast<size_t>(i)];
        l.erase(l.begin() + i);
        return v;
      });
    return Value();
  }
  if (obj.is_dict()) {
    Value self = obj;
    if (name == "items" || name == "keys" || name == "values")
      return fn([self, name](Args&, Kwargs&) {
        List l;
        for (const auto& [k, v] : self.dict()) {
          if (name == "items") l.emplace_back(List{Value(k), v});
          else if (name == "keys") l.emplace_back(k);
          else l.push_back(v);
        }
        return Value(std::move(l));
      });
    if (name == "get")
      return fn([self](Args& a, Kwargs&) {
        const Value* v = a.empty() ? nullptr : self.find(a[0].to_str());
        return v ? *v : (a.size() > 1 ? a[1] : Value(None{}));
      });
    return Value();
  }
  return Value();
}

void add_global_functions(Globals& g) {
  g["range"] = Value::function([](Args& a, Kwargs&) {
    int64_t start = 0, stop = 0, step = 1;
    if (a.size() == 1) stop = a[0].integer();
    else if (a.size() >= 2) start = a[0].integer(), stop = a[1].integer();
    if (a.size() >= 3) step = a[2].integer();
    if (step == 0) throw_input("chat template: range() step cannot be zero");
    List l;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      l.emplace_back(i);
      if (l.size() > 1000000) throw_input("chat template: range() too long");
    }
    return Value(std::move(l));
  });
  g["namespace"] = Value::function([](Args&, Kwargs& kw) {
    Dict d;
    for (auto& [k, v] : kw) d.emplace_back(k, v);
    return Value(std::move(d));
  });
  g["dict"] = g["namespace"];
  g["raise_exception"] = Value::function([](Args& a, Kwargs&) -> Value {
    throw_input("chat template: {}", a.empty() ? std::string("raise_exception") : a[0].to_str());
  });
  g["strftime_now"] = Value::function([](Args& a, Kwargs&) {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[256];
    const std::string fmt = a.empty() ? "%Y-%m-%d" : a[0].to_str();
    const size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
    return Value(std::string(buf, n));
  });
}

}  // namespace tandem::model::jinja
