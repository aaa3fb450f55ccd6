// The syntax tree of a Jinja template: expressions and statement nodes.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/jinja/value.h"

namespace tandem::model::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;
using KwArgs = std::vector<std::pair<std::string, ExprPtr>>;

struct Expr {
  enum class Kind {
    Literal,  // value
    Name,     // name
    List,     // args
    Tuple,    // args
    Dict,     // kwargs (keys as expressions in args, values in kwargs' exprs) -> see pairs
    Attr,     // a.name
    Index,    // a[b]
    Slice,    // a[b:c:d] (b, c, d may be null)
    Call,     // a(args, kwargs)
    Filter,   // a | name(args, kwargs)
    Test,     // a is [not] name(args)   (negate)
    Unary,    // name in {not, -, +}; a
    Binary,   // a name b
    Ternary,  // a if b else c (c may be null)
  } kind;
  int line = 0;
  Value value;
  std::string name;
  ExprPtr a, b, c, d;
  std::vector<ExprPtr> args;
  KwArgs kwargs;
  std::vector<std::pair<ExprPtr, ExprPtr>> pairs;  // Dict
  bool negate = false;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind { Text, Output, If, For, Set, SetBlock, Macro, CallBlock } kind;
  int line = 0;
  std::string text;                              // Text
  ExprPtr expr;                                  // Output, Set value, For iterable, Macro: none
  std::vector<std::pair<ExprPtr, Body>> branches;  // If: condition (null for else) and body
  std::vector<std::string> targets;              // For loop variables, Set name(s), Macro name
  std::string attr;                              // Set ns.attr: the attribute
  ExprPtr cond;                                  // For ... if cond
  Body body, else_body;                          // For, Macro, SetBlock
  std::vector<std::pair<std::string, ExprPtr>> params;  // Macro parameters with defaults
};

// Parses a template; InputError "chat template: line L: problem" on a syntax error.
Body parse(const std::string& source);

}  // namespace tandem::model::jinja
