// Recursive-descent parser (see parser.h). Precedence, loosest first, as jinja2/parser.py:
// a if b else c; or; and; not; comparisons and (not) in; + -; ~; * / // %; **; unary - +;
// then postfix (.attr, [item], (call)) and filters / tests, which bind tightest.
#include "template/parser.h"

#include <initializer_list>
#include <string_view>

namespace tessera::tmpl {
namespace {

// Nesting budget, in parser levels (one parenthesis costs about four). Real templates stay far
// below it; it keeps hostile input from overflowing the parser's or the evaluator's stack.
constexpr int kMaxNesting = 400;

class Parser {
 public:
  explicit Parser(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}

  Body parse() {
    std::string stop;
    Body body = parse_until({}, &stop, Pos{});
    return body;
  }

 private:
  // ---- token cursor within the current tag ----
  const Token& cur() const { return (*toks_)[ti_]; }
  const Token& peek(size_t k = 1) const {
    size_t i = ti_ + k;
    return i < toks_->size() ? (*toks_)[i] : toks_->back();
  }
  void advance() {
    if (ti_ + 1 < toks_->size()) ++ti_;
  }
  bool is_op(std::string_view op) const { return cur().kind == TokKind::kOp && cur().text == op; }
  bool is_name(std::string_view name) const {
    return cur().kind == TokKind::kName && cur().text == name;
  }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case TokKind::kEnd:
        return "end of tag";
      case TokKind::kString:
        return "string literal";
      default:
        return "'" + t.text + "'";
    }
  }
  [[noreturn]] void unexpected(std::string_view expected) const {
    fail_at(cur().pos, "TemplateSyntaxError: expected {}, got {}", expected, describe(cur()));
  }
  void expect_op(std::string_view op) {
    if (!skip_op(op)) unexpected("'" + std::string(op) + "'");
  }
  std::string expect_name() {
    if (cur().kind != TokKind::kName) unexpected("a name");
    std::string n = cur().text;
    advance();
    return n;
  }
  void expect_end() {
    if (cur().kind != TokKind::kEnd) unexpected("end of tag");
  }

  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxNesting) {
        fail_at(p_.cur().pos, "TemplateSyntaxError: expression nested too deeply (limit {})",
                kMaxNesting);
      }
    }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
  };

  // ---- statements ----
  Body parse_until(std::initializer_list<std::string_view> stops, std::string* stop, Pos opener,
                   std::string_view block = {}) {
    DepthGuard guard(*this);
    Body body;
    while (pi_ < pieces_.size()) {
      Piece& piece = pieces_[pi_];
      if (piece.kind == Piece::Kind::kText) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kText;
        n->pos = piece.pos;
        n->text = std::move(piece.text);
        body.push_back(std::move(n));
        ++pi_;
        continue;
      }
      toks_ = &piece.tokens;
      ti_ = 0;
      if (piece.kind == Piece::Kind::kOutput) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kOutput;
        n->pos = piece.pos;
        n->expr = parse_tuple(true);
        expect_end();
        body.push_back(std::move(n));
        ++pi_;
        continue;
      }
      if (cur().kind != TokKind::kName) unexpected("a statement name");
      for (std::string_view s : stops) {
        if (cur().text == s) {
          // The caller parses the rest of the stop tag and moves past it.
          *stop = cur().text;
          advance();
          return body;
        }
      }
      body.push_back(parse_statement(piece.pos));
    }
    if (stops.size() > 0) {
      std::string wanted;
      for (std::string_view s : stops) {
        if (!wanted.empty()) wanted += " or ";
        wanted += "'" + std::string(s) + "'";
      }
      fail_at(opener,
              "TemplateSyntaxError: unexpected end of template, looking for {}; the innermost "
              "block that needs to be closed is '{}' opened here",
              wanted, block);
    }
    return body;
  }

  NodePtr parse_statement(Pos pos) {
    std::string kw = cur().text;
    Pos kw_pos = cur().pos;
    advance();
    auto n = std::make_unique<Node>();
    n->pos = pos;
    std::string stop;
    if (kw == "if") {
      n->kind = Node::Kind::kIf;
      ExprPtr cond = parse_tuple(true);
      while (true) {
        expect_end();
        ++pi_;
        Body b = parse_until({"elif", "else", "endif"}, &stop, pos, "if");
        n->branches.emplace_back(std::move(cond), std::move(b));
        if (stop == "elif") {
          cond = parse_tuple(true);
          continue;
        }
        if (stop == "else") {
          expect_end();
          ++pi_;
          n->else_body = parse_until({"endif"}, &stop, pos, "if");
        }
        break;
      }
    } else if (kw == "for") {
      n->kind = Node::Kind::kFor;
      n->targets = parse_targets();
      if (!skip_name("in")) unexpected("'in'");
      n->expr = parse_tuple(false);
      if (skip_name("if")) n->filter = parse_tuple(true);
      if (is_name("recursive"))
        fail_at(cur().pos, "TemplateSyntaxError: recursive for loops are not supported");
      expect_end();
      ++pi_;
      ++loop_depth_;
      n->body = parse_until({"else", "endfor"}, &stop, pos, "for");
      --loop_depth_;
      if (stop == "else") {
        expect_end();
        ++pi_;
        n->else_body = parse_until({"endfor"}, &stop, pos, "for");
      }
    } else if (kw == "set") {
      n->targets = parse_targets();
      if (n->targets.size() == 1 && skip_op(".")) n->attr = expect_name();
      if (skip_op("=")) {
        n->kind = Node::Kind::kSet;
        n->expr = parse_tuple(true);
      } else {
        if (n->targets.size() != 1 || !n->attr.empty()) unexpected("'='");
        n->kind = Node::Kind::kSetBlock;
        expect_end();
        ++pi_;
        n->body = parse_until({"endset"}, &stop, pos, "set");
        return finish(std::move(n));
      }
    } else if (kw == "macro") {
      n->kind = Node::Kind::kMacro;
      n->text = expect_name();
      expect_op("(");
      n->params = parse_params();
      expect_end();
      ++pi_;
      int saved = loop_depth_;
      loop_depth_ = 0;
      n->body = parse_until({"endmacro"}, &stop, pos, "macro");
      loop_depth_ = saved;
    } else if (kw == "call") {
      n->kind = Node::Kind::kCallBlock;
      if (skip_op("(")) n->params = parse_params();
      n->expr = parse_tuple(true);
      if (n->expr->kind != Expr::Kind::kCall) {
        fail_at(n->expr->pos, "TemplateSyntaxError: expected a call after 'call'");
      }
      expect_end();
      ++pi_;
      n->body = parse_until({"endcall"}, &stop, pos, "call");
    } else if (kw == "break" || kw == "continue") {
      if (loop_depth_ == 0) fail_at(kw_pos, "TemplateSyntaxError: '{}' outside of a for loop", kw);
      n->kind = kw == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
    } else if (kw == "generation") {
      n->kind = Node::Kind::kScope;
      expect_end();
      ++pi_;
      n->body = parse_until({"endgeneration"}, &stop, pos, "generation");
    } else {
      fail_at(kw_pos, "TemplateSyntaxError: encountered unknown or unsupported tag '{}'", kw);
    }
    return finish(std::move(n));
  }

  NodePtr finish(NodePtr n) {
    expect_end();
    ++pi_;
    return n;
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> t;
    bool paren = skip_op("(");
    t.push_back(expect_name());
    while (skip_op(",")) {
      if (cur().kind != TokKind::kName) break;
      t.push_back(expect_name());
    }
    if (paren) expect_op(")");
    return t;
  }

  // Macro / caller parameters after '(' up to and including ')'.
  std::vector<std::pair<std::string, ExprPtr>> parse_params() {
    std::vector<std::pair<std::string, ExprPtr>> params;
    while (!skip_op(")")) {
      if (!params.empty()) expect_op(",");
      if (skip_op(")")) break;
      std::string name = expect_name();
      ExprPtr def;
      if (skip_op("=")) {
        def = parse_tuple(true);
      } else if (!params.empty() && params.back().second) {
        fail_at(cur().pos, "TemplateSyntaxError: non-default argument follows default argument");
      }
      params.emplace_back(std::move(name), std::move(def));
    }
    return params;
  }

  // ---- expressions ----
  static ExprPtr make(Expr::Kind kind, Pos pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
  }
  static ExprPtr make2(Expr::Kind kind, Pos pos, std::string name, ExprPtr a, ExprPtr b) {
    auto e = make(kind, pos);
    e->name = std::move(name);
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }

  // A comma-separated list of expressions becomes a tuple (a list value).
  ExprPtr parse_tuple(bool with_condexpr) {
    Pos pos = cur().pos;
    ExprPtr first = with_condexpr ? parse_condexpr() : parse_or();
    if (!is_op(",")) return first;
    auto t = make(Expr::Kind::kList, pos);
    t->name = "tuple";
    t->args.push_back(std::move(first));
    while (skip_op(",")) {
      if (cur().kind == TokKind::kEnd || is_op(")") || is_name("if")) break;
      t->args.push_back(with_condexpr ? parse_condexpr() : parse_or());
    }
    return t;
  }

  ExprPtr parse_condexpr() {
    DepthGuard guard(*this);
    ExprPtr e = parse_or();
    while (is_name("if")) {
      Pos pos = cur().pos;
      advance();
      ExprPtr cond = parse_or();
      ExprPtr other;
      if (skip_name("else")) other = parse_condexpr();
      auto c = make(Expr::Kind::kCond, pos);
      c->args.push_back(std::move(e));
      c->args.push_back(std::move(cond));
      c->args.push_back(std::move(other));
      e = std::move(c);
    }
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      Pos pos = cur().pos;
      advance();
      e = make2(Expr::Kind::kOr, pos, "or", std::move(e), parse_and());
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      Pos pos = cur().pos;
      advance();
      e = make2(Expr::Kind::kAnd, pos, "and", std::move(e), parse_not());
    }
    return e;
  }

  ExprPtr parse_not() {
    DepthGuard guard(*this);
    if (is_name("not")) {
      auto e = make(Expr::Kind::kNot, cur().pos);
      advance();
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    Pos pos = cur().pos;
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (cur().kind == TokKind::kOp &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" ||
           cur().text == ">" || cur().text == ">=")) {
        op = cur().text;
        advance();
      } else if (is_name("in")) {
        op = "in";
        advance();
      } else if (is_name("not") && peek().kind == TokKind::kName && peek().text == "in") {
        op = "not in";
        advance();
        advance();
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(Expr::Kind::kCompare, pos);
        cmp->args.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->args.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      Pos pos = cur().pos;
      std::string op = cur().text;
      advance();
      e = make2(Expr::Kind::kBinary, pos, op, std::move(e), parse_concat());
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      Pos pos = cur().pos;
      advance();
      e = make2(Expr::Kind::kBinary, pos, "~", std::move(e), parse_math2());
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      Pos pos = cur().pos;
      std::string op = cur().text;
      advance();
      e = make2(Expr::Kind::kBinary, pos, op, std::move(e), parse_pow());
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      Pos pos = cur().pos;
      advance();
      e = make2(Expr::Kind::kBinary, pos, "**", std::move(e), parse_unary(true));
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = make(Expr::Kind::kUnary, cur().pos);
      e->name = cur().text;
      advance();
      e->args.push_back(parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    DepthGuard guard(*this);
    const Token& t = cur();
    Pos pos = t.pos;
    switch (t.kind) {
      case TokKind::kName: {
        auto e = make(Expr::Kind::kLiteral, pos);
        if (t.text == "true" || t.text == "True") {
          e->literal = Value(true);
        } else if (t.text == "false" || t.text == "False") {
          e->literal = Value(false);
        } else if (t.text == "none" || t.text == "None") {
          e->literal = Value::none();
        } else {
          e->kind = Expr::Kind::kName;
          e->name = t.text;
        }
        advance();
        return e;
      }
      case TokKind::kString: {
        std::string s;
        while (cur().kind == TokKind::kString) {
          s += cur().text;
          advance();
        }
        auto e = make(Expr::Kind::kLiteral, pos);
        e->literal = Value(std::move(s));
        return e;
      }
      case TokKind::kInt: {
        auto e = make(Expr::Kind::kLiteral, pos);
        e->literal = Value(t.int_value);
        advance();
        return e;
      }
      case TokKind::kFloat: {
        auto e = make(Expr::Kind::kLiteral, pos);
        e->literal = Value(t.float_value);
        advance();
        return e;
      }
      case TokKind::kOp:
        if (t.text == "(") {
          advance();
          if (skip_op(")")) {
            auto empty = make(Expr::Kind::kList, pos);
            empty->name = "tuple";
            return empty;
          }
          ExprPtr inner = parse_tuple(true);
          expect_op(")");
          return inner;
        }
        if (t.text == "[") {
          advance();
          auto e = make(Expr::Kind::kList, pos);
          while (!skip_op("]")) {
            if (!e->args.empty()) expect_op(",");
            if (skip_op("]")) break;
            e->args.push_back(parse_condexpr());
          }
          return e;
        }
        if (t.text == "{") {
          advance();
          auto e = make(Expr::Kind::kDict, pos);
          while (!skip_op("}")) {
            if (!e->args.empty()) expect_op(",");
            if (skip_op("}")) break;
            e->args.push_back(parse_condexpr());
            expect_op(":");
            e->args.push_back(parse_condexpr());
          }
          return e;
        }
        break;
      case TokKind::kEnd:
        break;
    }
    unexpected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".")) {
        Pos pos = cur().pos;
        advance();
        if (cur().kind == TokKind::kInt) {
          auto idx = make(Expr::Kind::kLiteral, cur().pos);
          idx->literal = Value(cur().int_value);
          advance();
          e = make2(Expr::Kind::kItem, pos, "", std::move(e), std::move(idx));
          continue;
        }
        auto a = make(Expr::Kind::kAttr, pos);
        a->name = expect_name();
        a->args.push_back(std::move(e));
        e = std::move(a);
      } else if (is_op("[")) {
        e = parse_subscript(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj) {
    Pos pos = cur().pos;
    advance();  // [
    ExprPtr parts[3];
    int part = 0;
    bool is_slice = false;
    while (!is_op("]")) {
      if (skip_op(":")) {
        is_slice = true;
        if (++part > 2) unexpected("']'");
        continue;
      }
      if (parts[part]) unexpected("':' or ']'");
      parts[part] = parse_tuple(true);
    }
    advance();  // ]
    if (!is_slice) {
      if (!parts[0]) fail_at(pos, "TemplateSyntaxError: empty subscript");
      return make2(Expr::Kind::kItem, pos, "", std::move(obj), std::move(parts[0]));
    }
    auto s = make(Expr::Kind::kSlice, pos);
    s->args.push_back(std::move(obj));
    for (auto& p : parts) s->args.push_back(std::move(p));
    return s;
  }

  // Parses "(args)": positional arguments are appended to e.args after the callee or operand
  // in args[0], keyword arguments go to e.kwargs.
  void call_args(Expr& e) {
    expect_op("(");
    bool had_arg = false;
    while (!skip_op(")")) {
      if (had_arg) expect_op(",");
      if (skip_op(")")) break;
      if (is_op("*") || is_op("**")) {
        fail_at(cur().pos, "TemplateSyntaxError: *args / **kwargs in calls are not supported");
      }
      if (cur().kind == TokKind::kName && peek().kind == TokKind::kOp && peek().text == "=") {
        std::string key = cur().text;
        advance();
        advance();
        e.kwargs.emplace_back(std::move(key), parse_condexpr());
      } else {
        if (!e.kwargs.empty()) {
          fail_at(cur().pos, "TemplateSyntaxError: positional argument follows keyword argument");
        }
        e.args.push_back(parse_condexpr());
      }
      had_arg = true;
    }
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto c = make(Expr::Kind::kCall, cur().pos);
    c->args.push_back(std::move(callee));
    call_args(*c);
    return c;
  }

  std::string parse_dotted_name() {
    std::string name = expect_name();
    while (is_op(".") && peek().kind == TokKind::kName) {
      advance();
      name += "." + expect_name();
    }
    return name;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        advance();
        auto f = make(Expr::Kind::kFilter, cur().pos);
        f->name = parse_dotted_name();
        f->args.push_back(std::move(e));
        if (is_op("(")) call_args(*f);
        e = std::move(f);
      } else if (is_name("is")) {
        advance();
        auto t = make(Expr::Kind::kTest, cur().pos);
        t->negated = skip_name("not");
        t->name = parse_dotted_name();
        t->args.push_back(std::move(e));
        if (is_op("(")) {
          call_args(*t);
        } else if ((cur().kind == TokKind::kName || cur().kind == TokKind::kString ||
                    cur().kind == TokKind::kInt || cur().kind == TokKind::kFloat || is_op("[") ||
                    is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
          if (is_name("is"))
            fail_at(cur().pos, "TemplateSyntaxError: cannot chain tests with 'is'");
          t->args.push_back(parse_postfix(parse_primary()));
        }
        e = std::move(t);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  std::vector<Piece> pieces_;
  size_t pi_ = 0;
  const std::vector<Token>* toks_ = nullptr;
  size_t ti_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body parse_template(std::vector<Piece> pieces) {
  return Parser(std::move(pieces)).parse();
}

}  // namespace tessera::tmpl
