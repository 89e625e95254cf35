// Syntax tree of a parsed chat template. Nodes are plain structs owned by their parent
// through unique_ptr; the tree is immutable after parsing and shared by every render.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/template_error.h"
#include "template/value.h"

namespace tessera::tmpl {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,  // literal
    kName,     // name
    kList,     // args: items; name "tuple" for a tuple literal
    kDict,     // args: key0, value0, key1, value1 ...
    kAttr,     // args[0].name
    kItem,     // args[0][args[1]]
    kSlice,    // args[0][args[1]:args[2]:args[3]], absent parts are null
    kCall,     // args[0](args[1..], kwargs)
    kFilter,   // args[0] | name(args[1..], kwargs)
    kTest,     // args[0] is [not] name(args[1..], kwargs)
    kUnary,    // name ("-", "+") args[0]
    kNot,      // not args[0]
    kBinary,   // args[0] name args[1], name in + - * / // % ** ~
    kAnd,      // args[0] and args[1]
    kOr,       // args[0] or args[1]
    kCompare,  // args[0] ops[0] args[1] ops[1] args[2] ...
    kCond,     // args[0] if args[1] else args[2] (args[2] may be null)
  };
  Kind kind = Kind::kLiteral;
  Pos pos;
  Value literal;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind {
    kText,       // text
    kOutput,     // {{ expr }}
    kIf,         // branches (cond, body); else_body
    kFor,        // for targets in expr [if filter]: body [else else_body]
    kSet,        // set targets = expr, or set targets[0].attr = expr
    kSetBlock,   // set targets[0] %}body{% endset
    kMacro,      // macro name(params): body
    kCallBlock,  // call(params) expr: body, where body is the caller()
    kBreak,
    kContinue,
    kScope,  // a block rendered in place (HF's {% generation %})
  };
  Kind kind = Kind::kText;
  Pos pos;
  std::string text;  // kText text; kMacro name
  ExprPtr expr;
  ExprPtr filter;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<std::string> targets;
  std::string attr;
  std::vector<std::pair<std::string, ExprPtr>> params;
};

}  // namespace tessera::tmpl
