#include "engine/json_constraint.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"

namespace tandem::engine {
namespace {

using nlohmann::json;

enum Type : uint8_t { kObject = 1, kArray = 2, kString = 4, kNumber = 8, kInteger = 16, kBoolean = 32, kNull = 64, kAny = 127 };

struct Node {
  uint8_t types = kAny;
  std::vector<std::pair<std::string, int>> props;  // name -> node
  std::vector<bool> required;                       // by props index
  bool closed = false;                              // no keys beyond props
  int items = 0;                                    // node of array elements (0: any)
  int64_t min_items = 0, max_items = -1;
  std::vector<std::string> options;  // enum / const: the compact JSON text of each allowed value
};

// The compiled schema: node 0 accepts any value.
struct Schema {
  std::vector<Node> nodes{Node{}};

  // Bytes of the shortest value a node accepts (an upper bound is fine: it only makes the
  // automaton start closing a little earlier).
  int64_t min_value(int node) const {
    const Node& n = nodes[static_cast<size_t>(node)];
    if (!n.options.empty()) {
      size_t best = SIZE_MAX;
      for (const auto& o : n.options) best = std::min(best, o.size());
      return static_cast<int64_t>(best);
    }
    if (n.types & (kNumber | kInteger)) return 1;
    if (n.types & kString) return 2;
    if (n.types & kObject) {
      int64_t c = 2;
      for (size_t i = 0; i < n.props.size(); ++i)
        if (n.required[i]) c += static_cast<int64_t>(n.props[i].first.size()) + 4 + min_value(n.props[i].second);
      return c;
    }
    if (n.types & kArray) return 2 + n.min_items * (min_value(n.items) + 1);
    if (n.types & kNull) return 4;
    return 5;  // false
  }

  int compile(const json& s, const std::string& where, int depth = 0) {
    if (depth > 32) throw_input("JSON schema at {}: nested deeper than 32 levels", where);
    if (s.is_boolean()) return 0;
    if (!s.is_object()) throw_input("JSON schema at {}: expected an object", where);
    for (const char* k : {"$ref", "allOf", "not", "if", "pattern", "patternProperties", "dependentSchemas"})
      if (s.contains(k)) throw_input("JSON schema at {}: '{}' is not supported", where, k);
    Node n;
    if (s.contains("anyOf") || s.contains("oneOf")) return 0;  // any value (see the header)
    if (s.contains("type")) {
      n.types = 0;
      const json& t = s["type"];
      auto add = [&](const json& name) {
        static const std::pair<const char*, uint8_t> names[] = {{"object", kObject}, {"array", kArray}, {"string", kString},
                                                                {"number", kNumber | kInteger}, {"integer", kInteger},
                                                                {"boolean", kBoolean}, {"null", kNull}};
        for (const auto& [nm, bit] : names)
          if (name.is_string() && name.get<std::string>() == nm) {
            n.types |= bit;
            return;
          }
        throw_input("JSON schema at {}: unknown type {}", where, name.dump());
      };
      if (t.is_array()) for (const json& x : t) add(x);
      else add(t);
    } else if (s.contains("properties")) {
      n.types = kObject;
    }
    if (s.contains("enum") || s.contains("const")) {
      const json opts = s.contains("const") ? json::array({s["const"]}) : s["enum"];
      if (!opts.is_array() || opts.empty()) throw_input("JSON schema at {}: 'enum' must be a non-empty array", where);
      for (const json& o : opts) {
        if (o.is_object() || o.is_array()) throw_input("JSON schema at {}: only scalar enum values are supported", where);
        n.options.push_back(o.dump());
      }
    }
    if (s.contains("properties")) {
      if (!s["properties"].is_object()) throw_input("JSON schema at {}: 'properties' must be an object", where);
      n.closed = !(s.contains("additionalProperties") && s["additionalProperties"] == true);
      const int self = static_cast<int>(nodes.size());
      nodes.push_back(n);  // reserve the index; children are added after
      std::vector<std::pair<std::string, int>> props;
      for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it)
        props.emplace_back(it.key(), compile(it.value(), where + "." + it.key(), depth + 1));
      std::vector<bool> req(props.size(), false);
      if (s.contains("required")) {
        for (const json& r : s["required"]) {
          auto p = std::find_if(props.begin(), props.end(), [&](const auto& x) { return r.is_string() && x.first == r.get<std::string>(); });
          if (p == props.end()) throw_input("JSON schema at {}: required {} is not in 'properties'", where, r.dump());
          req[static_cast<size_t>(p - props.begin())] = true;
        }
      }
      nodes[static_cast<size_t>(self)].props = std::move(props);
      nodes[static_cast<size_t>(self)].required = std::move(req);
      return self;
    }
    if (s.contains("items")) n.items = compile(s["items"], where + "[]", depth + 1);
    auto count = [&](const char* key, int64_t def) {
      if (!s.contains(key)) return def;
      if (!s[key].is_number_unsigned()) throw_input("JSON schema at {}: '{}' must be a non-negative integer", where, key);
      return static_cast<int64_t>(std::min<uint64_t>(s[key].get<uint64_t>(), 1u << 20));
    };
    n.min_items = count("minItems", 0);
    n.max_items = count("maxItems", -1);
    if (n.max_items >= 0 && n.max_items < n.min_items)
      throw_input("JSON schema at {}: maxItems {} is below minItems {}", where, n.max_items, n.min_items);
    nodes.push_back(n);
    return static_cast<int>(nodes.size()) - 1;
  }
};

enum class Kind : uint8_t { Value, Object, Array, String, Key, Number, Literal, Enum };

struct Frame {
  Kind kind = Kind::Value;
  int node = 0;
  uint8_t phase = 0;
  uint8_t esc = 0;        // strings: 0, 1 after '\', 2..5 hex digits of \u
  bool int_only = false;  // numbers
  int64_t count = 0;      // arrays: elements; numbers: digits
  int child = 0;          // objects: node of the value after the current key
  const char* lit = nullptr;
  std::vector<bool> seen;  // objects: props seen
  std::string buf;         // keys and enums: bytes so far
};

// Object phases.
enum : uint8_t { kKeyOrEnd, kKey, kColon, kCommaOrEnd };
// Array phases.
enum : uint8_t { kValueOrEnd, kValue, kArrCommaOrEnd };

// Whitespace between tokens: a run of at most 8 characters with at most one newline (enough to
// pretty-print, not enough to stall in blank lines); none before the document.
constexpr int kMaxWhitespace = 8;
constexpr int64_t kMaxDigits = 24;

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

class Automaton {
 public:
  Automaton(std::shared_ptr<const Schema> schema, int root) : schema_(std::move(schema)) {
    Frame f;
    f.node = root;
    stack_.push_back(f);
  }

  bool complete() const { return done_; }

  // Bytes still needed to finish the document by the shortest route (0 when complete).
  int64_t min_close() const {
    const Schema& sc = *schema_;
    int64_t c = 0;
    for (size_t i = stack_.size(); i-- > 0;) {
      const Frame& f = stack_[i];
      const Node& n = sc.nodes[static_cast<size_t>(f.node)];
      switch (f.kind) {
        case Kind::Value: c += sc.min_value(f.node); break;
        case Kind::String: c += 1 + (f.esc == 1 ? 1 : f.esc >= 2 ? 6 - f.esc : 0); break;
        case Kind::Key: {
          int64_t best = 1;
          if (n.closed) {
            best = INT64_MAX;
            const Frame& obj = stack_[i - 1];
            for (size_t p = 0; p < n.props.size(); ++p)
              if (!obj.seen[p] && n.props[p].first.compare(0, f.buf.size(), f.buf) == 0)
                best = std::min<int64_t>(best, static_cast<int64_t>(n.props[p].first.size() - f.buf.size()) + 1);
          }
          c += best;
          break;
        }
        case Kind::Object: {
          int64_t req = 0;
          bool any_required = false;
          for (size_t p = 0; p < n.props.size(); ++p)
            if (n.required[p] && !f.seen[p]) {
              req += static_cast<int64_t>(n.props[p].first.size()) + 4 + sc.min_value(n.props[p].second);
              any_required = true;
            }
          c += 1 + req;
          if (f.phase == kColon) c += 1 + sc.min_value(f.child);
          if (f.phase == kKey && !any_required) {
            int64_t best = n.closed ? INT64_MAX / 4 : 4;
            for (size_t p = 0; p < n.props.size(); ++p)
              if (!f.seen[p]) best = std::min<int64_t>(best, static_cast<int64_t>(n.props[p].first.size()) + 3 + sc.min_value(n.props[p].second));
            c += best;
          }
          break;
        }
        case Kind::Array:
          c += 1 + std::max<int64_t>(0, n.min_items - f.count) * (sc.min_value(n.items) + 1) +
               (f.phase == kValue ? sc.min_value(n.items) : 0);
          break;
        case Kind::Number: c += number_complete(f) ? 0 : 1; break;
        case Kind::Literal: c += static_cast<int64_t>(std::string_view(f.lit).size()) - f.count; break;
        case Kind::Enum: {
          size_t best = SIZE_MAX;
          for (const auto& o : n.options)
            if (o.compare(0, f.buf.size(), f.buf) == 0 && o.size() >= f.buf.size()) best = std::min(best, o.size() - f.buf.size());
          c += static_cast<int64_t>(best == SIZE_MAX ? 0 : best);
          break;
        }
      }
    }
    return c;
  }

  bool feed(std::string_view bytes) {
    for (char c : bytes)
      if (!feed(c)) return false;
    return true;
  }

  bool feed(char c) {
    for (;;) {
      if (stack_.empty()) return false;
      Frame& f = stack_.back();
      const Node& n = schema_->nodes[static_cast<size_t>(f.node)];
      switch (f.kind) {
        case Kind::Value: {
          if (is_ws(c)) return ws(c);
          ws_ = newlines_ = 0;
          if (!n.options.empty()) {
            f.kind = Kind::Enum;
            continue;
          }
          if (c == '{' && (n.types & kObject)) {
            f.kind = Kind::Object;
            f.phase = kKeyOrEnd;
            f.seen.assign(n.props.size(), false);
            return true;
          }
          if (c == '[' && (n.types & kArray)) {
            f.kind = Kind::Array;
            f.phase = kValueOrEnd;
            return true;
          }
          if (c == '"' && (n.types & kString)) {
            f.kind = Kind::String;
            return true;
          }
          if ((c == '-' || is_digit(c)) && (n.types & (kNumber | kInteger))) {
            f.kind = Kind::Number;
            f.int_only = !(n.types & kNumber);
            f.phase = 0;
            continue;
          }
          const char* lit = c == 't' && (n.types & kBoolean) ? "true"
                            : c == 'f' && (n.types & kBoolean) ? "false"
                            : c == 'n' && (n.types & kNull) ? "null" : nullptr;
          if (!lit) return false;
          f.kind = Kind::Literal;
          f.lit = lit;
          f.count = 1;
          return true;
        }
        case Kind::Object: {
          if (is_ws(c)) return ws(c);
          ws_ = newlines_ = 0;
          if (f.phase == kColon) {
            if (c != ':') return false;
            f.phase = kCommaOrEnd;
            Frame v;
            v.node = f.child;
            stack_.push_back(v);
            return true;
          }
          if (c == '"' && f.phase != kCommaOrEnd) {
            f.phase = kColon;
            Frame k;
            k.kind = Kind::Key;
            k.node = f.node;
            stack_.push_back(k);
            return true;
          }
          if (c == ',' && f.phase == kCommaOrEnd) {
            if (n.closed && std::all_of(f.seen.begin(), f.seen.end(), [](bool b) { return b; })) return false;
            f.phase = kKey;
            return true;
          }
          if (c == '}' && (f.phase == kKeyOrEnd || f.phase == kCommaOrEnd)) {
            for (size_t i = 0; i < n.required.size(); ++i)
              if (n.required[i] && !f.seen[i]) return false;
            return pop();
          }
          return false;
        }
        case Kind::Array: {
          if (is_ws(c)) return ws(c);
          ws_ = newlines_ = 0;
          if (c == ']' && f.phase != kValue && f.count >= n.min_items) return pop();
          if (f.phase == kArrCommaOrEnd) {
            if (c != ',' || (n.max_items >= 0 && f.count >= n.max_items)) return false;
            f.phase = kValue;
            return true;
          }
          if (n.max_items >= 0 && f.count >= n.max_items) return false;
          ++f.count;
          f.phase = kArrCommaOrEnd;
          Frame v;
          v.node = n.items;
          stack_.push_back(v);
          continue;
        }
        case Kind::String:
        case Kind::Key: {
          const bool key = f.kind == Kind::Key;
          if (f.esc == 1) {
            if (std::string_view("\"\\/bfnrtu").find(c) == std::string_view::npos) return false;
            f.esc = c == 'u' ? 2 : 0;
          } else if (f.esc >= 2) {
            if (!is_hex(c)) return false;
            f.esc = f.esc == 5 ? 0 : f.esc + 1;
          } else if (c == '\\') {
            f.esc = 1;
          } else if (c == '"') {
            if (!key) return pop();
            return close_key();
          } else if (static_cast<unsigned char>(c) < 0x20) {
            return false;
          }
          if (key) {
            f.buf += c;
            if (n.closed && !key_prefix_ok(n, stack_[stack_.size() - 2], f.buf)) return false;
          }
          return true;
        }
        case Kind::Number: {
          if (number_step(f, c)) return true;
          if (!number_complete(f)) return false;
          if (!pop()) return false;
          continue;
        }
        case Kind::Literal: {
          if (f.lit[f.count] != c) return false;
          ++f.count;
          if (f.lit[f.count] == '\0') return pop();
          return true;
        }
        case Kind::Enum: {
          std::string next = f.buf + c;
          bool prefix = false, exact_before = false;
          for (const std::string& o : n.options) {
            prefix |= o.compare(0, next.size(), next) == 0 && o.size() >= next.size();
            exact_before |= o == f.buf;
          }
          if (prefix) {
            f.buf = std::move(next);
            // A string option ends with its quote: done as soon as nothing longer can follow.
            const bool longer = std::any_of(n.options.begin(), n.options.end(), [&](const std::string& o) {
              return o.size() > f.buf.size() && o.compare(0, f.buf.size(), f.buf) == 0;
            });
            const bool exact = std::find(n.options.begin(), n.options.end(), f.buf) != n.options.end();
            if (exact && !longer && (f.buf.back() == '"' || f.buf.back() == 'e' || f.buf.back() == 'l')) return pop();
            return true;
          }
          if (!exact_before) return false;
          if (!pop()) return false;
          continue;
        }
      }
    }
  }

 private:
  bool ws(char c) {
    if (stack_.size() == 1 && stack_[0].kind == Kind::Value) return false;  // before the document
    if (c == '\n' && ++newlines_ > 1) return false;
    return ++ws_ <= kMaxWhitespace;
  }

  // The value on top is complete: drop its frame; the whole document is complete when the
  // stack is empty.
  bool pop() {
    stack_.pop_back();
    if (stack_.empty()) done_ = true;
    return true;
  }

  static bool key_prefix_ok(const Node& n, const Frame& obj, const std::string& buf) {
    for (size_t i = 0; i < n.props.size(); ++i)
      if (!obj.seen[i] && n.props[i].first.compare(0, buf.size(), buf) == 0 && n.props[i].first.size() >= buf.size())
        return true;
    return false;
  }

  bool close_key() {
    const std::string name = std::move(stack_.back().buf);
    stack_.pop_back();
    Frame& obj = stack_.back();
    const Node& n = schema_->nodes[static_cast<size_t>(obj.node)];
    for (size_t i = 0; i < n.props.size(); ++i)
      if (n.props[i].first == name) {
        if (obj.seen[i]) return false;  // no key twice
        obj.seen[i] = true;
        obj.child = n.props[i].second;
        return true;
      }
    if (n.closed) return false;
    obj.child = 0;
    return true;
  }

  // Number grammar: 0 start, 1 after '-', 2 after a leading 0, 3 integer digits, 4 after '.',
  // 5 fraction digits, 6 after 'e', 7 after the exponent sign, 8 exponent digits.
  static bool number_step(Frame& f, char c) {
    const bool digit = is_digit(c);
    if (digit && ++f.count > kMaxDigits) return false;
    switch (f.phase) {
      case 0: if (c == '-') { f.phase = 1; return true; } [[fallthrough]];
      case 1: if (c == '0') { f.phase = 2; return true; } if (digit) { f.phase = 3; return true; } return false;
      case 2: case 3:
        if (f.phase == 3 && digit) return true;
        if (f.int_only) return false;
        if (c == '.') { f.phase = 4; return true; }
        if (c == 'e' || c == 'E') { f.phase = 6; return true; }
        return false;
      case 4: if (digit) { f.phase = 5; return true; } return false;
      case 5: if (digit) return true; if (c == 'e' || c == 'E') { f.phase = 6; return true; } return false;
      case 6: if (c == '+' || c == '-') { f.phase = 7; return true; } [[fallthrough]];
      case 7: if (digit) { f.phase = 8; return true; } return false;
      case 8: return digit;
    }
    return false;
  }
  static bool number_complete(const Frame& f) { return f.phase == 2 || f.phase == 3 || f.phase == 5 || f.phase == 8; }

  std::shared_ptr<const Schema> schema_;
  std::vector<Frame> stack_;
  int ws_ = 0, newlines_ = 0;
  bool done_ = false;
};

class JsonConstraint final : public TokenConstraint {
 public:
  JsonConstraint(std::shared_ptr<const Schema> schema, int root) : state_(std::move(schema), root) {}

  // A token is allowed when its bytes keep the output valid and the document can still be
  // closed within the budget after it (closing bytes counted as tokens: every byte the closing
  // needs has a token of its own in byte-level and byte-fallback vocabularies).
  void mask(const model::Tokenizer& tok, std::span<float> logits, int64_t budget) override {
    if (pieces_.empty()) {
      pieces_.resize(static_cast<size_t>(tok.n_vocab()));
      for (int32_t i = 0; i < tok.n_vocab(); ++i) pieces_[static_cast<size_t>(i)] = tok.piece(i);
    }
    constexpr float kOff = -std::numeric_limits<float>::infinity();
    for (size_t i = 0; i < logits.size() && i < pieces_.size(); ++i) {
      if (logits[i] == kOff) continue;
      const std::string& p = pieces_[i];
      if (p.empty() || tok.is_eog(static_cast<model::TokenId>(i))) {
        logits[i] = kOff;
        continue;
      }
      Automaton probe = state_;
      if (!probe.feed(p) || probe.min_close() > budget - 1) logits[i] = kOff;
    }
  }

  void accept(const model::Tokenizer& tok, model::TokenId id) override {
    const bool ok = state_.feed(tok.piece(id));
    TANDEM_CHECK(ok, "JSON constraint: token {} was sampled but not allowed", id);
  }

  bool complete() const override { return state_.complete(); }

 private:
  Automaton state_;
  std::vector<std::string> pieces_;  // the bytes of every token, built on first use
};

std::pair<std::shared_ptr<Schema>, int> build(const json* schema) {
  auto s = std::make_shared<Schema>();
  int root;
  if (schema) {
    root = s->compile(*schema, "$");
    const uint8_t t = s->nodes[static_cast<size_t>(root)].types;
    if (t != kObject) throw_input("JSON schema: the top level must be {{\"type\": \"object\", ...}}");
  } else {
    Node obj;
    obj.types = kObject;
    s->nodes.push_back(obj);
    root = 1;
  }
  return {s, root};
}

}  // namespace

std::shared_ptr<TokenConstraint> make_json_constraint(const nlohmann::json* schema) {
  auto [s, root] = build(schema);
  return std::make_shared<JsonConstraint>(std::move(s), root);
}

bool json_matches(const nlohmann::json* schema, std::string_view text) {
  auto [s, root] = build(schema);
  Automaton a(std::move(s), root);
  return a.feed(text) && a.complete();
}

}  // namespace tandem::engine
