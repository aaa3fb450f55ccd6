// Template text -> segments (text, {{ }}, {% %}, {# #}) with Jinja's whitespace control as
// Hugging Face configures it (trim_blocks and lstrip_blocks on), then expression tokens, then a
// recursive-descent parser with Jinja's precedence:
//   ternary < or < and < not < comparison/in/is < + - < ~ < * / // % < ** < unary < postfix | filter
#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cstdlib>

#include "core/error.h"
#include "model/jinja/ast.h"

namespace tandem::model::jinja {
namespace {

[[noreturn]] void fail(int line, const std::string& what) {
  throw_input("chat template: line {}: {}", line, what);
}

struct Segment {
  enum Kind { Text, Expr, Stmt, Comment } kind;
  std::string text;
  int line;
};

std::vector<Segment> segment(const std::string& s) {
  std::vector<Segment> out;
  size_t i = 0;
  int line = 1;
  bool strip_next = false;  // the previous tag ended with -
  bool trim_newline = false;  // trim_blocks: the previous tag was a block or comment
  auto count_lines = [&](size_t a, size_t b) {
    for (size_t k = a; k < b; ++k) line += s[k] == '\n';
  };
  while (i <= s.size()) {
    size_t open = s.find('{', i);
    while (open != std::string::npos && open + 1 < s.size() && s[open + 1] != '{' && s[open + 1] != '%' && s[open + 1] != '#')
      open = s.find('{', open + 1);
    if (open != std::string::npos && open + 1 >= s.size()) open = std::string::npos;
    std::string text = s.substr(i, open == std::string::npos ? std::string::npos : open - i);
    const int text_line = line;
    count_lines(i, open == std::string::npos ? s.size() : open);
    if (trim_newline && !text.empty() && text[0] == '\n') text.erase(0, 1);
    else if (trim_newline && text.size() >= 2 && text[0] == '\r' && text[1] == '\n') text.erase(0, 2);
    if (strip_next) {
      size_t k = 0;
      while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
      text.erase(0, k);
    }
    if (open == std::string::npos) {
      if (!text.empty()) out.push_back({Segment::Text, text, text_line});
      break;
    }
    const char type = s[open + 1];
    const bool minus_left = open + 2 < s.size() && s[open + 2] == '-';
    const bool plus_left = open + 2 < s.size() && s[open + 2] == '+';
    const std::string close = type == '{' ? "}}" : type == '%' ? "%}" : "#}";
    const size_t end = s.find(close, open + 2);
    if (end == std::string::npos) fail(line, fmt::format("'{}' is never closed", s.substr(open, 2)));
    const bool minus_right = end > open + 2 && s[end - 1] == '-';
    if (minus_left) {
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    } else if (type != '{' && !plus_left) {
      // lstrip_blocks: spaces and tabs between a line start (in the source) and a block tag go.
      size_t j = open;
      while (j > i && (s[j - 1] == ' ' || s[j - 1] == '\t')) --j;
      if (j == 0 || s[j - 1] == '\n') text.erase(text.size() - std::min(text.size(), open - j));
    }
    if (!text.empty()) out.push_back({Segment::Text, text, text_line});
    const size_t inner_begin = open + 2 + (minus_left || plus_left ? 1 : 0);
    const size_t inner_end = end - (minus_right ? 1 : 0);
    const int tag_line = line;
    count_lines(open, end + 2);
    if (type != '#')
      out.push_back({type == '{' ? Segment::Expr : Segment::Stmt, s.substr(inner_begin, inner_end - inner_begin), tag_line});
    strip_next = minus_right;
    trim_newline = type != '{';
    i = end + 2;
  }
  return out;
}

// ---- expression tokens ------------------------------------------------------------------------

struct Tok {
  enum Kind { Name, Int, Float, Str, Op, End } kind;
  std::string text;
};

std::vector<Tok> lex(const std::string& s, int line) {
  std::vector<Tok> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Tok::Name, s.substr(i, j - i)});
      i = j;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      bool is_float = false;
      if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
        is_float = true;
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      out.push_back({is_float ? Tok::Float : Tok::Int, s.substr(i, j - i)});
      i = j;
      continue;
    }
    if (c == '\'' || c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          const char e = s[++j];
          switch (e) {
            case 'n': v += '\n'; break;
            case 't': v += '\t'; break;
            case 'r': v += '\r'; break;
            case '\\': v += '\\'; break;
            case '\'': v += '\''; break;
            case '"': v += '"'; break;
            default: v += '\\'; v += e;
          }
        } else {
          v += s[j];
        }
      }
      if (j >= s.size()) fail(line, "unterminated string");
      out.push_back({Tok::Str, v});
      i = j + 1;
      continue;
    }
    static const char* ops[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "="};
    bool found = false;
    for (const char* op : ops) {
      const size_t n = std::char_traits<char>::length(op);
      if (s.compare(i, n, op) == 0) {
        out.push_back({Tok::Op, op});
        i += n;
        found = true;
        break;
      }
    }
    if (!found) fail(line, fmt::format("unexpected character '{}'", c));
  }
  out.push_back({Tok::End, ""});
  return out;
}

// ---- parser ---------------------------------------------------------------------------------

class ExprParser {
 public:
  ExprParser(std::vector<Tok> toks, int line) : t_(std::move(toks)), line_(line) {}

  bool at_end() const { return t_[p_].kind == Tok::End; }
  bool is_op(const char* op) const { return t_[p_].kind == Tok::Op && t_[p_].text == op; }
  bool is_name(const char* n) const { return t_[p_].kind == Tok::Name && t_[p_].text == n; }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    ++p_;
    return true;
  }
  bool accept_name(const char* n) {
    if (!is_name(n)) return false;
    ++p_;
    return true;
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) fail(line_, fmt::format("expected '{}', found '{}'", op, here()));
  }
  std::string here() const { return t_[p_].kind == Tok::End ? "end of tag" : t_[p_].text; }
  std::string name() {
    if (t_[p_].kind != Tok::Name) fail(line_, fmt::format("expected a name, found '{}'", here()));
    return t_[p_++].text;
  }
  void expect_end() {
    if (!at_end()) fail(line_, fmt::format("unexpected '{}'", here()));
  }

  ExprPtr make(Expr::Kind k) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line_;
    return e;
  }

  // A full expression. Nesting (parentheses, lists, unary chains) is bounded so a hostile
  // template cannot exhaust the stack.
  ExprPtr expression() {
    Depth guard(*this);
    return ternary();
  }
  struct Depth {
    explicit Depth(ExprParser& p) : p_(p) {
      if (++p_.depth_ > kMaxNesting) fail(p_.line_, "expression nested too deeply");
    }
    ~Depth() { --p_.depth_; }
    ExprParser& p_;
  };
  static constexpr int kMaxNesting = 200;
  int depth_ = 0;

  ExprPtr ternary() {
    ExprPtr e = or_expr();
    while (is_name("if")) {
      ++p_;
      auto t = make(Expr::Kind::Ternary);
      t->a = std::move(e);
      t->b = or_expr();
      if (accept_name("else")) t->c = ternary();
      e = std::move(t);
    }
    return e;
  }
  ExprPtr binary(ExprPtr a, std::string op, ExprPtr b) {
    auto e = make(Expr::Kind::Binary);
    e->name = std::move(op);
    e->a = std::move(a);
    e->b = std::move(b);
    return e;
  }
  ExprPtr or_expr() {
    ExprPtr e = and_expr();
    while (accept_name("or")) e = binary(std::move(e), "or", and_expr());
    return e;
  }
  ExprPtr and_expr() {
    ExprPtr e = not_expr();
    while (accept_name("and")) e = binary(std::move(e), "and", not_expr());
    return e;
  }
  ExprPtr not_expr() {
    Depth guard(*this);
    if (accept_name("not")) {
      auto e = make(Expr::Kind::Unary);
      e->name = "not";
      e->a = not_expr();
      return e;
    }
    return compare();
  }
  ExprPtr compare() {
    ExprPtr e = math1();
    for (;;) {
      static const char* ops[] = {"==", "!=", "<=", ">=", "<", ">"};
      bool matched = false;
      for (const char* op : ops)
        if (accept_op(op)) {
          e = binary(std::move(e), op, math1());
          matched = true;
          break;
        }
      if (matched) continue;
      if (accept_name("in")) {
        e = binary(std::move(e), "in", math1());
      } else if (is_name("not") && t_[p_ + 1].kind == Tok::Name && t_[p_ + 1].text == "in") {
        p_ += 2;
        e = binary(std::move(e), "not in", math1());
      } else {
        break;
      }
    }
    return e;
  }
  ExprPtr math1() {
    ExprPtr e = concat();
    for (;;) {
      if (accept_op("+")) e = binary(std::move(e), "+", concat());
      else if (accept_op("-")) e = binary(std::move(e), "-", concat());
      else return e;
    }
  }
  ExprPtr concat() {
    ExprPtr e = math2();
    while (accept_op("~")) e = binary(std::move(e), "~", math2());
    return e;
  }
  ExprPtr math2() {
    ExprPtr e = power();
    for (;;) {
      if (accept_op("*")) e = binary(std::move(e), "*", power());
      else if (accept_op("//")) e = binary(std::move(e), "//", power());
      else if (accept_op("/")) e = binary(std::move(e), "/", power());
      else if (accept_op("%")) e = binary(std::move(e), "%", power());
      else return e;
    }
  }
  ExprPtr power() {
    ExprPtr e = unary();
    while (accept_op("**")) e = binary(std::move(e), "**", unary());
    return e;
  }
  ExprPtr unary() {
    Depth guard(*this);
    if (accept_op("-")) {
      auto e = make(Expr::Kind::Unary);
      e->name = std::string("-");  // (a move: assigning the literal trips a false GCC 12 -Wrestrict)
      e->a = unary();
      return e;
    }
    if (accept_op("+")) return unary();
    return filtered(postfix(primary()));
  }
  void call_args(std::vector<ExprPtr>& args, KwArgs& kwargs) {
    // after '('
    while (!accept_op(")")) {
      if (t_[p_].kind == Tok::Name && t_[p_ + 1].kind == Tok::Op && t_[p_ + 1].text == "=") {
        std::string k = t_[p_].text;
        p_ += 2;
        kwargs.emplace_back(std::move(k), expression());
      } else {
        args.push_back(expression());
      }
      if (!is_op(")")) expect_op(",");
    }
  }
  ExprPtr postfix(ExprPtr e) {
    for (;;) {
      if (accept_op(".")) {
        auto a = make(Expr::Kind::Attr);
        a->a = std::move(e);
        a->name = name();
        e = std::move(a);
      } else if (accept_op("[")) {
        ExprPtr lo, hi, step;
        bool slice = false;
        if (!is_op(":")) lo = expression();
        if (accept_op(":")) {
          slice = true;
          if (!is_op(":") && !is_op("]")) hi = expression();
          if (accept_op(":") && !is_op("]")) step = expression();
        }
        expect_op("]");
        auto x = make(slice ? Expr::Kind::Slice : Expr::Kind::Index);
        x->a = std::move(e);
        x->b = std::move(lo);
        x->c = std::move(hi);
        x->d = std::move(step);
        e = std::move(x);
      } else if (accept_op("(")) {
        auto c = make(Expr::Kind::Call);
        c->a = std::move(e);
        call_args(c->args, c->kwargs);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }
  ExprPtr filtered(ExprPtr e) {
    for (;;) {
      if (accept_op("|")) {
        auto f = make(Expr::Kind::Filter);
        f->a = std::move(e);
        f->name = name();
        if (accept_op("(")) call_args(f->args, f->kwargs);
        e = std::move(f);
      } else if (accept_name("is")) {
        auto t = make(Expr::Kind::Test);
        t->negate = accept_name("not");
        t->a = std::move(e);
        t->name = name();
        if (accept_op("(")) {
          call_args(t->args, t->kwargs);
        } else if (t_[p_].kind == Tok::Str || t_[p_].kind == Tok::Int || t_[p_].kind == Tok::Float ||
                   (t_[p_].kind == Tok::Name && !is_name("and") && !is_name("or") && !is_name("else") &&
                    !is_name("if") && !is_name("in") && !is_name("not"))) {
          t->args.push_back(postfix(primary()));  // `is equalto 3`, `is sameas none`
        }
        e = std::move(t);
      } else {
        return e;
      }
    }
  }
  ExprPtr primary() {
    const Tok tok = t_[p_];
    if (tok.kind == Tok::End) fail(line_, "expression expected");
    ++p_;
    auto lit = [&](Value v) {
      auto e = make(Expr::Kind::Literal);
      e->value = std::move(v);
      return e;
    };
    switch (tok.kind) {
      case Tok::Int: {
        int64_t v = 0;
        const auto [end, ec] = std::from_chars(tok.text.data(), tok.text.data() + tok.text.size(), v);
        if (ec != std::errc() || end != tok.text.data() + tok.text.size())
          fail(line_, fmt::format("integer literal {:.40} is out of range", tok.text));
        return lit(Value(v));
      }
      case Tok::Float: return lit(Value(std::strtod(tok.text.c_str(), nullptr)));  // 1e999 -> inf, as Python
      case Tok::Str: {
        std::string s = tok.text;
        while (t_[p_].kind == Tok::Str) s += t_[p_++].text;  // adjacent literals concatenate
        return lit(Value(s));
      }
      case Tok::Name:
        if (tok.text == "true" || tok.text == "True") return lit(Value(true));
        if (tok.text == "false" || tok.text == "False") return lit(Value(false));
        if (tok.text == "none" || tok.text == "None") return lit(Value(None{}));
        {
          auto e = make(Expr::Kind::Name);
          e->name = tok.text;
          return e;
        }
      default: break;
    }
    if (tok.text == "(") {
      ExprPtr e = expression();
      if (accept_op(",")) {
        auto t = make(Expr::Kind::Tuple);
        t->args.push_back(std::move(e));
        while (!is_op(")")) {
          t->args.push_back(expression());
          if (!accept_op(",")) break;
        }
        e = std::move(t);
      }
      expect_op(")");
      return e;
    }
    if (tok.text == "[") {
      auto e = make(Expr::Kind::List);
      while (!accept_op("]")) {
        e->args.push_back(expression());
        if (!is_op("]")) expect_op(",");
      }
      return e;
    }
    if (tok.text == "{") {
      auto e = make(Expr::Kind::Dict);
      while (!accept_op("}")) {
        ExprPtr k = expression();
        expect_op(":");
        e->pairs.emplace_back(std::move(k), expression());
        if (!is_op("}")) expect_op(",");
      }
      return e;
    }
    fail(line_, fmt::format("unexpected '{}'", tok.text));
  }

  size_t p_ = 0;

 private:
  std::vector<Tok> t_;
  int line_;
};

class Parser {
 public:
  explicit Parser(std::vector<Segment> segs) : segs_(std::move(segs)) {}

  Body parse_all() {
    Body b = parse_body({});
    if (i_ < segs_.size()) fail(segs_[i_].line, "unexpected tag");
    return b;
  }

 private:
  // Parses nodes until a statement whose keyword is in `stops` (left unconsumed).
  Body parse_body(std::initializer_list<const char*> stops) {
    Body body;
    while (i_ < segs_.size()) {
      const Segment& s = segs_[i_];
      if (s.kind == Segment::Text) {
        auto n = node(Node::Kind::Text, s.line);
        n->text = s.text;
        body.push_back(std::move(n));
        ++i_;
        continue;
      }
      if (s.kind == Segment::Expr) {
        ExprParser p(lex(s.text, s.line), s.line);
        auto n = node(Node::Kind::Output, s.line);
        n->expr = p.expression();
        p.expect_end();
        body.push_back(std::move(n));
        ++i_;
        continue;
      }
      ExprParser p(lex(s.text, s.line), s.line);
      const std::string kw = p.at_end() ? "" : p.name();
      for (const char* stop : stops)
        if (kw == stop) return body;
      ++i_;
      body.push_back(statement(kw, p, s.line));
    }
    if (stops.size() != 0)
      fail(open_line_, fmt::format("this block is never closed: missing {{% {} %}}", *(stops.end() - 1)));
    return body;
  }

  NodePtr node(Node::Kind k, int line) {
    auto n = std::make_unique<Node>();
    n->kind = k;
    n->line = line;
    return n;
  }

  // The keyword of the current (stop) statement, consumed.
  std::string take_stop() {
    ExprParser p(lex(segs_[i_].text, segs_[i_].line), segs_[i_].line);
    std::string kw = p.name();
    stop_parser_ = std::make_unique<ExprParser>(std::move(p));
    ++i_;
    return kw;
  }

  NodePtr statement(const std::string& kw, ExprParser& p, int line) {
    struct Restore {
      int& ref;
      int saved;
      int& depth;
      ~Restore() {
        ref = saved;
        --depth;
      }
    } restore{open_line_, open_line_, block_depth_};
    open_line_ = line;
    if (++block_depth_ > 100) fail(line, "blocks nested too deeply");
    if (kw == "if") {
      auto n = node(Node::Kind::If, line);
      ExprPtr cond = p.expression();
      p.expect_end();
      for (;;) {
        Body b = parse_body({"elif", "else", "endif"});
        n->branches.emplace_back(std::move(cond), std::move(b));
        const std::string stop = take_stop();
        if (stop == "endif") break;
        if (stop == "else") {
          Body e = parse_body({"endif"});
          take_stop();
          n->branches.emplace_back(nullptr, std::move(e));
          break;
        }
        cond = stop_parser_->expression();
        stop_parser_->expect_end();
      }
      return n;
    }
    if (kw == "for") {
      auto n = node(Node::Kind::For, line);
      n->targets.push_back(p.name());
      while (p.accept_op(",")) n->targets.push_back(p.name());
      if (!p.accept_name("in")) fail(line, "expected 'in' in for");
      n->expr = p.or_expr();
      if (p.accept_name("if")) n->cond = p.or_expr();
      p.accept_name("recursive");
      p.expect_end();
      n->body = parse_body({"else", "endfor"});
      if (take_stop() == "else") {
        n->else_body = parse_body({"endfor"});
        take_stop();
      }
      return n;
    }
    if (kw == "set") {
      std::string target = p.name();
      if (p.at_end()) {  // {% set x %}...{% endset %}
        auto n = node(Node::Kind::SetBlock, line);
        n->targets.push_back(target);
        n->body = parse_body({"endset"});
        take_stop();
        return n;
      }
      auto n = node(Node::Kind::Set, line);
      n->targets.push_back(target);
      if (p.accept_op(".")) n->attr = p.name();
      while (p.accept_op(",")) n->targets.push_back(p.name());
      p.expect_op("=");
      n->expr = p.expression();
      if (p.is_op(",")) {  // set a, b = x, y
        auto t = p.make(Expr::Kind::Tuple);
        t->args.push_back(std::move(n->expr));
        while (p.accept_op(",")) t->args.push_back(p.expression());
        n->expr = std::move(t);
      }
      p.expect_end();
      return n;
    }
    if (kw == "macro") {
      auto n = node(Node::Kind::Macro, line);
      n->targets.push_back(p.name());
      p.expect_op("(");
      while (!p.accept_op(")")) {
        std::string param = p.name();
        ExprPtr def;
        if (p.accept_op("=")) def = p.expression();
        n->params.emplace_back(std::move(param), std::move(def));
        if (!p.is_op(")")) p.expect_op(",");
      }
      p.expect_end();
      n->body = parse_body({"endmacro"});
      take_stop();
      return n;
    }
    if (kw == "generation") {
      auto n = node(Node::Kind::CallBlock, line);
      n->body = parse_body({"endgeneration"});
      take_stop();
      return n;
    }
    fail(line, kw.empty() ? std::string("empty {% %} tag") : fmt::format("unknown statement '{}'", kw));
  }

  std::vector<Segment> segs_;
  size_t i_ = 0;
  std::unique_ptr<ExprParser> stop_parser_;
  int open_line_ = 1;  // the statement whose block is being read (for "never closed")
  int block_depth_ = 0;
};

}  // namespace

Body parse(const std::string& source) { return Parser(segment(source)).parse_all(); }

}  // namespace tandem::model::jinja
