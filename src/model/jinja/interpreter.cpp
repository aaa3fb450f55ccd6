#include "model/jinja/interpreter.h"

#include <fmt/format.h>

#include <cmath>
#include <ctime>

#include "core/error.h"
#include "model/jinja/builtins.h"

namespace tandem::model::jinja {
namespace {

constexpr int kMaxDepth = 256;           // nested macro calls / loops
constexpr size_t kMaxOutput = 64 << 20;  // bytes; a template cannot blow up memory
constexpr int64_t kMaxSteps = 2'000'000;  // loop iterations + macro calls: no template hangs

struct Scope {
  std::map<std::string, Value> vars;
  Scope* parent = nullptr;
};

class Interp {
 public:
  explicit Interp(const Globals& g) {
    for (const auto& [k, v] : g) root_.vars[k] = v;
  }

  void run(const Body& body, Scope& scope, std::string& out) {
    for (const NodePtr& n : body) exec(*n, scope, out);
  }

 private:
  [[noreturn]] void fail(int line, const std::string& what) { throw_input("chat template: line {}: {}", line, what); }

  Value lookup(const std::string& name, Scope& scope) {
    for (Scope* s = &scope; s; s = s->parent) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return it->second;
    }
    return Value();
  }

  void exec(const Node& n, Scope& scope, std::string& out) {
    if (out.size() > kMaxOutput) fail(n.line, "output too large");
    switch (n.kind) {
      case Node::Kind::Text: out += n.text; return;
      case Node::Kind::Output: out += eval(*n.expr, scope).to_str(); return;
      case Node::Kind::If:
        for (const auto& [cond, body] : n.branches)
          if (!cond || eval(*cond, scope).truthy()) {
            run(body, scope, out);
            return;
          }
        return;
      case Node::Kind::For: exec_for(n, scope, out); return;
      case Node::Kind::Set: {
        Value v = eval(*n.expr, scope);
        if (!n.attr.empty()) {
          Value target = lookup(n.targets[0], scope);
          if (!target.is_dict()) fail(n.line, fmt::format("cannot set attribute of {} '{}'", target.type_name(), n.targets[0]));
          if (contains(v, &target.dict())) fail(n.line, fmt::format("cannot store '{}' inside itself", n.targets[0]));
          set_key(target.dict(), n.attr, std::move(v));
        } else if (n.targets.size() == 1) {
          scope.vars[n.targets[0]] = std::move(v);
        } else {
          unpack(n.targets, v, scope, n.line);
        }
        return;
      }
      case Node::Kind::SetBlock: {
        std::string s;
        run(n.body, scope, s);
        scope.vars[n.targets[0]] = Value(s);
        return;
      }
      case Node::Kind::Macro: define_macro(n, scope); return;
      case Node::Kind::CallBlock: run(n.body, scope, out); return;
    }
  }

  static void set_key(Dict& d, const std::string& k, Value v) {
    for (auto& [key, val] : d)
      if (key == k) {
        val = std::move(v);
        return;
      }
    d.emplace_back(k, std::move(v));
  }

  void unpack(const std::vector<std::string>& names, const Value& v, Scope& scope, int line) {
    if (!v.is_list() || v.list().size() != names.size())
      fail(line, fmt::format("cannot unpack {} into {} names", v.type_name(), names.size()));
    for (size_t i = 0; i < names.size(); ++i) scope.vars[names[i]] = v.list()[i];
  }

  void exec_for(const Node& n, Scope& scope, std::string& out) {
    if (++depth_ > kMaxDepth) fail(n.line, "nested too deeply");
    Value seq = eval(*n.expr, scope);
    List items;
    if (seq.is_list()) items = seq.list();
    else if (seq.is_dict()) for (const auto& [k, v] : seq.dict()) items.emplace_back(k);
    else if (seq.is_string()) for (char c : seq.str()) items.emplace_back(std::string(1, c));
    else if (!seq.is_undefined() && !seq.is_none()) fail(n.line, fmt::format("cannot loop over a {}", seq.type_name()));
    Scope inner{{}, &scope};
    if (n.cond) {  // `for x in xs if cond`: filter first, so loop.* counts the kept items
      List kept;
      for (const Value& item : items) {
        bind(n, item, inner);
        if (eval(*n.cond, inner).truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const auto len = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < len; ++i) {
      if (++steps_ > kMaxSteps) fail(n.line, "the template does too much work (loop iterations)");
      bind(n, items[static_cast<size_t>(i)], inner);
      Dict loop = {{"index", Value(i + 1)},
                   {"index0", Value(i)},
                   {"revindex", Value(len - i)},
                   {"revindex0", Value(len - i - 1)},
                   {"first", Value(i == 0)},
                   {"last", Value(i == len - 1)},
                   {"length", Value(len)},
                   {"previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value()},
                   {"nextitem", i + 1 < len ? items[static_cast<size_t>(i + 1)] : Value()}};
      inner.vars["loop"] = Value(std::move(loop));
      run(n.body, inner, out);
    }
    if (len == 0) run(n.else_body, scope, out);
    --depth_;
  }

  void bind(const Node& n, const Value& item, Scope& s) {
    if (n.targets.size() == 1) s.vars[n.targets[0]] = item;
    else unpack(n.targets, item, s, n.line);
  }

  void define_macro(const Node& n, Scope& scope) {
    const Node* def = &n;
    Scope* defining = &scope;
    scope.vars[n.targets[0]] = Value::function([this, def, defining](std::vector<Value>& args, std::vector<std::pair<std::string, Value>>& kwargs) {
      if (++depth_ > kMaxDepth) fail(def->line, "macro calls nested too deeply");
      if (++steps_ > kMaxSteps) fail(def->line, "the template does too much work (macro calls)");
      Scope s{{}, defining};
      for (size_t i = 0; i < def->params.size(); ++i) {
        const auto& [name, dflt] = def->params[i];
        Value v;
        if (i < args.size()) v = args[i];
        else if (dflt) v = eval(*dflt, s);
        for (auto& [k, kv] : kwargs)
          if (k == name) v = kv;
        s.vars[name] = v;
      }
      std::string out;
      run(def->body, s, out);
      --depth_;
      return Value(out);
    });
  }

 public:
  Value eval(const Expr& e, Scope& scope) {
    switch (e.kind) {
      case Expr::Kind::Literal: return e.value;
      case Expr::Kind::Name: return lookup(e.name, scope);
      case Expr::Kind::List:
      case Expr::Kind::Tuple: {
        List l;
        for (const auto& a : e.args) l.push_back(eval(*a, scope));
        return Value(std::move(l));
      }
      case Expr::Kind::Dict: {
        Dict d;
        for (const auto& [k, v] : e.pairs) set_key(d, eval(*k, scope).to_str(), eval(*v, scope));
        return Value(std::move(d));
      }
      case Expr::Kind::Attr: {
        Value obj = eval(*e.a, scope);
        if (const Value* v = obj.find(e.name)) return *v;
        if (obj.is_string() || obj.is_list() || obj.is_dict()) return method(obj, e.name, e.line);
        return Value();
      }
      case Expr::Kind::Index: {
        Value obj = eval(*e.a, scope), key = eval(*e.b, scope);
        return index(obj, key, e.line);
      }
      case Expr::Kind::Slice: return slice(e, scope);
      case Expr::Kind::Call: {
        Value f = eval(*e.a, scope);
        std::vector<Value> args;
        for (const auto& a : e.args) args.push_back(eval(*a, scope));
        std::vector<std::pair<std::string, Value>> kw;
        for (const auto& [k, v] : e.kwargs) kw.emplace_back(k, eval(*v, scope));
        if (!f.is_callable()) fail(e.line, fmt::format("{} is not callable", f.is_undefined() ? "an undefined name" : f.type_name()));
        return f.callable()(args, kw);
      }
      case Expr::Kind::Filter: {
        Value x = eval(*e.a, scope);
        std::vector<Value> args;
        for (const auto& a : e.args) args.push_back(eval(*a, scope));
        std::vector<std::pair<std::string, Value>> kw;
        for (const auto& [k, v] : e.kwargs) kw.emplace_back(k, eval(*v, scope));
        return apply_filter(e.name, x, args, kw, e.line);
      }
      case Expr::Kind::Test: {
        Value x = eval(*e.a, scope);
        std::vector<Value> args;
        for (const auto& a : e.args) args.push_back(eval(*a, scope));
        const bool r = apply_test(e.name, x, args, e.line);
        return Value(e.negate ? !r : r);
      }
      case Expr::Kind::Unary: {
        Value x = eval(*e.a, scope);
        if (e.name == "not") return Value(!x.truthy());
        if (x.is_int()) return Value(-x.integer());
        if (x.is_float()) return Value(-x.number());
        fail(e.line, fmt::format("cannot negate a {}", x.type_name()));
      }
      case Expr::Kind::Binary: return binary(e, scope);
      case Expr::Kind::Ternary: {
        if (eval(*e.b, scope).truthy()) return eval(*e.a, scope);
        return e.c ? eval(*e.c, scope) : Value();
      }
    }
    return Value();
  }

 private:
  Value index(const Value& obj, const Value& key, int line) {
    if (obj.is_dict()) {
      const Value* v = obj.find(key.to_str());
      return v ? *v : Value();
    }
    if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
      const int64_t n = obj.is_list() ? static_cast<int64_t>(obj.list().size()) : static_cast<int64_t>(obj.str().size());
      int64_t i = key.integer();
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value();
      if (obj.is_list()) return obj.list()[static_cast<size_t>(i)];
      return Value(std::string(1, obj.str()[static_cast<size_t>(i)]));
    }
    if (obj.is_undefined() || obj.is_none()) return Value();
    if (key.is_string()) return method(obj, key.str(), line);
    fail(line, fmt::format("cannot index a {} with a {}", obj.type_name(), key.type_name()));
  }

  Value slice(const Expr& e, Scope& scope) {
    Value obj = eval(*e.a, scope);
    const bool is_str = obj.is_string();
    if (!is_str && !obj.is_list()) fail(e.line, fmt::format("cannot slice a {}", obj.type_name()));
    const int64_t n = is_str ? static_cast<int64_t>(obj.str().size()) : static_cast<int64_t>(obj.list().size());
    const int64_t step = e.d ? eval(*e.d, scope).integer() : 1;
    if (step == 0) fail(e.line, "slice step cannot be zero");
    auto norm = [&](const ExprPtr& x, int64_t dflt) {
      if (!x) return dflt;
      Value v = eval(*x, scope);
      if (v.is_none()) return dflt;
      int64_t i = v.integer();
      if (i < 0) i += n;
      return step > 0 ? std::clamp<int64_t>(i, 0, n) : std::clamp<int64_t>(i, -1, n - 1);
    };
    const int64_t lo = norm(e.b, step > 0 ? 0 : n - 1), hi = norm(e.c, step > 0 ? n : -1);
    List l;
    std::string s;
    for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) {
      if (is_str) s += obj.str()[static_cast<size_t>(i)];
      else l.push_back(obj.list()[static_cast<size_t>(i)]);
    }
    return is_str ? Value(s) : Value(std::move(l));
  }

  Value binary(const Expr& e, Scope& scope) {
    const std::string& op = e.name;
    if (op == "and") {
      Value a = eval(*e.a, scope);
      return a.truthy() ? eval(*e.b, scope) : a;
    }
    if (op == "or") {
      Value a = eval(*e.a, scope);
      return a.truthy() ? a : eval(*e.b, scope);
    }
    Value a = eval(*e.a, scope), b = eval(*e.b, scope);
    if (op == "==") return Value(equal(a, b));
    if (op == "!=") return Value(!equal(a, b));
    if (op == "<") return Value(less(a, b));
    if (op == ">") return Value(less(b, a));
    if (op == "<=") return Value(!less(b, a));
    if (op == ">=") return Value(!less(a, b));
    if (op == "in" || op == "not in") {
      bool r = false;
      if (b.is_string()) r = b.str().find(a.to_str()) != std::string::npos;
      else if (b.is_list()) for (const Value& x : b.list()) r = r || equal(a, x);
      else if (b.is_dict()) r = b.find(a.to_str()) != nullptr;
      else if (!b.is_undefined() && !b.is_none()) fail(e.line, fmt::format("'in' needs a string, list or dict, not a {}", b.type_name()));
      return Value(op == "in" ? r : !r);
    }
    if (op == "~") return Value(a.to_str() + b.to_str());
    if (op == "+") {
      if (a.is_string() && b.is_string()) return Value(a.str() + b.str());
      if (a.is_list() && b.is_list()) {
        List l = a.list();
        l.insert(l.end(), b.list().begin(), b.list().end());
        return Value(std::move(l));
      }
    }
    if ((a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool())) {
      const bool ints = !a.is_float() && !b.is_float();
      if (op == "+") return ints ? Value(a.integer() + b.integer()) : Value(a.number() + b.number());
      if (op == "-") return ints ? Value(a.integer() - b.integer()) : Value(a.number() - b.number());
      if (op == "*") return ints ? Value(a.integer() * b.integer()) : Value(a.number() * b.number());
      if (op == "**") return ints && b.integer() >= 0 ? Value(static_cast<int64_t>(std::pow(a.number(), b.number()))) : Value(std::pow(a.number(), b.number()));
      if (b.number() == 0) fail(e.line, "division by zero");
      if (op == "/") return Value(a.number() / b.number());
      if (op == "//") return ints ? Value(static_cast<int64_t>(std::floor(a.number() / b.number()))) : Value(std::floor(a.number() / b.number()));
      if (op == "%") {
        if (ints) {
          int64_t r = a.integer() % b.integer();
          if (r != 0 && ((r < 0) != (b.integer() < 0))) r += b.integer();
          return Value(r);
        }
        return Value(a.number() - b.number() * std::floor(a.number() / b.number()));
      }
    }
    if (op == "*" && a.is_string() && b.is_int()) {
      std::string s;
      for (int64_t i = 0; i < b.integer() && s.size() < kMaxOutput; ++i) s += a.str();
      return Value(s);
    }
    fail(e.line, fmt::format("unsupported operands for {}: {} and {}", op, a.type_name(), b.type_name()));
  }

  Scope root_;
  int depth_ = 0;
  int64_t steps_ = 0;

 public:
  Scope& root() { return root_; }
};

}  // namespace

std::string render(const Body& tmpl, const Globals& globals) {
  Interp in(globals);
  std::string out;
  in.run(tmpl, in.root(), out);
  return out;
}

}  // namespace tandem::model::jinja
