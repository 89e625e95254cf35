// Evaluator (see interpreter.h). Scoping follows jinja2: each for-loop iteration and each
// macro call gets a fresh scope whose parent is where it was written; if-blocks do not scope;
// `set` writes the innermost scope, so only namespace() attributes survive a loop iteration.
#include "template/interpreter.h"

#include <cmath>
#include <memory>

#include "template/builtins.h"
#include "template/py_ops.h"
#include "template/template_error.h"

namespace tessera::tmpl {
namespace {

struct Scope {
  explicit Scope(std::shared_ptr<Scope> p) : parent(std::move(p)) {}
  const Value* find(const std::string& name) const {
    for (const auto& [k, v] : vars) {
      if (k == name) return &v;
    }
    return nullptr;
  }
  void set(const std::string& name, Value v) {
    for (auto& [k, old] : vars) {
      if (k == name) {
        old = std::move(v);
        return;
      }
    }
    vars.emplace_back(name, std::move(v));
  }
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;
};
using ScopePtr = std::shared_ptr<Scope>;

[[noreturn]] void overflow() {
  fail("OverflowError: integer result does not fit in 64 bits");
}

class Interpreter {
 public:
  Interpreter(const Object& ctx, const RenderEnv& env) : ctx_(ctx), env_(env) { make_globals(); }

  std::string run(const Body& body) {
    std::string out;
    out_ = &out;
    auto top = std::make_shared<Scope>(nullptr);
    exec_body(body, top);
    return out;
  }

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  struct OutputCapture {
    OutputCapture(Interpreter& in, std::string& buf) : in_(in), saved_(in.out_) { in.out_ = &buf; }
    ~OutputCapture() { in_.out_ = saved_; }
    Interpreter& in_;
    std::string* saved_;
  };

  struct CallDepth {
    explicit CallDepth(Interpreter& in) : in_(in) {
      if (++in_.call_depth_ > in_.env_.limits.max_call_depth) {
        fail("RecursionError: macro calls nested deeper than {}", in_.env_.limits.max_call_depth);
      }
    }
    ~CallDepth() { --in_.call_depth_; }
    Interpreter& in_;
  };

  void step() {
    if (++steps_ > env_.limits.max_steps) {
      fail("template rendering exceeded {} evaluation steps", env_.limits.max_steps);
    }
  }

  void emit(std::string_view s) {
    if (out_->size() + s.size() > env_.limits.max_output_bytes) {
      fail("template output exceeds {} bytes", env_.limits.max_output_bytes);
    }
    out_->append(s);
  }

  void check_size(size_t n) const {
    if (n > env_.limits.max_value_bytes) {
      fail("MemoryError: value of {} bytes exceeds the limit of {}", n,
           env_.limits.max_value_bytes);
    }
  }

  // ---- statements ----
  Flow exec_body(const Body& body, const ScopePtr& scope) {
    for (const auto& n : body) {
      Flow f = exec(*n, scope);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

  Flow exec(const Node& n, const ScopePtr& scope) {
    step();
    try {
      switch (n.kind) {
        case Node::Kind::kText:
          emit(n.text);
          return Flow::kNormal;
        case Node::Kind::kOutput:
          emit(py::str(eval(*n.expr, scope)));
          return Flow::kNormal;
        case Node::Kind::kIf:
          for (const auto& [cond, body] : n.branches) {
            if (eval(*cond, scope).truthy()) return exec_body(body, scope);
          }
          return exec_body(n.else_body, scope);
        case Node::Kind::kFor:
          return exec_for(n, scope);
        case Node::Kind::kSet:
          exec_set(n, scope);
          return Flow::kNormal;
        case Node::Kind::kSetBlock: {
          std::string buf;
          {
            OutputCapture cap(*this, buf);
            exec_body(n.body, scope);
          }
          scope->set(n.targets[0], Value(std::move(buf)));
          return Flow::kNormal;
        }
        case Node::Kind::kMacro:
          scope->set(n.text, make_macro(n.text, n.params, n.body, scope));
          return Flow::kNormal;
        case Node::Kind::kCallBlock: {
          Value caller = make_macro("caller", n.params, n.body, scope);
          emit(py::str(eval_call(*n.expr, scope, &caller)));
          return Flow::kNormal;
        }
        case Node::Kind::kBreak:
          return Flow::kBreak;
        case Node::Kind::kContinue:
          return Flow::kContinue;
        case Node::Kind::kScope:
          return exec_body(n.body, scope);
      }
    } catch (TemplateError& e) {
      if (!e.has_pos()) e.set_pos(n.pos);
      throw;
    }
    return Flow::kNormal;
  }

  static void bind_targets(Scope& s, const std::vector<std::string>& targets, const Value& v) {
    if (targets.size() == 1) {
      s.set(targets[0], v);
      return;
    }
    Array items = iterate(v);
    if (items.size() < targets.size()) {
      fail("ValueError: not enough values to unpack (expected {}, got {})", targets.size(),
           items.size());
    }
    if (items.size() > targets.size()) {
      fail("ValueError: too many values to unpack (expected {})", targets.size());
    }
    for (size_t i = 0; i < targets.size(); ++i) s.set(targets[i], items[i]);
  }

  Flow exec_for(const Node& n, const ScopePtr& scope) {
    Array items = iterate(eval(*n.expr, scope));
    if (n.filter) {
      Array kept;
      for (auto& item : items) {
        step();
        auto s = std::make_shared<Scope>(scope);
        bind_targets(*s, n.targets, item);
        if (eval(*n.filter, s).truthy()) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) return exec_body(n.else_body, scope);
    const auto len = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < len; ++i) {
      step();  // an empty body must still count against the budget
      auto s = std::make_shared<Scope>(scope);
      bind_targets(*s, n.targets, items[static_cast<size_t>(i)]);
      s->set("loop", loop_object(items, i));
      if (exec_body(n.body, s) == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  static Value loop_object(const Array& items, int64_t i) {
    const auto len = static_cast<int64_t>(items.size());
    Object o;
    o.set("index0", Value(i));
    o.set("index", Value(i + 1));
    o.set("revindex0", Value(len - i - 1));
    o.set("revindex", Value(len - i));
    o.set("first", Value(i == 0));
    o.set("last", Value(i == len - 1));
    o.set("length", Value(len));
    o.set("depth", Value(static_cast<int64_t>(1)));
    o.set("depth0", Value(static_cast<int64_t>(0)));
    o.set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)]
                            : Value::undefined("there is no previous item"));
    o.set("nextitem", i + 1 < len ? items[static_cast<size_t>(i + 1)]
                                  : Value::undefined("there is no next item"));
    o.set("cycle", Value::callable("cycle", [i](CallArgs& a) -> Value {
            if (a.args.empty()) fail("TypeError: no items for cycling given");
            return a.args[static_cast<size_t>(i) % a.args.size()];
          }));
    return Value(std::move(o));
  }

  void exec_set(const Node& n, const ScopePtr& scope) {
    Value v = eval(*n.expr, scope);
    if (n.attr.empty()) {
      bind_targets(*scope, n.targets, v);
      return;
    }
    Value ns = lookup(n.targets[0], scope);
    if (!ns.is_namespace()) {
      fail("TemplateRuntimeError: cannot assign attribute on non-namespace object");
    }
    ns.as_namespace().attrs.set(n.attr, std::move(v));
  }

  // Macros (and call-block callers) run in a fresh scope whose parent is where they were
  // defined. They hold that scope weakly: a scope owns the macro, not the other way round.
  Value make_macro(const std::string& name,
                   const std::vector<std::pair<std::string, ExprPtr>>& params, const Body& body,
                   const ScopePtr& defined_in) {
    std::weak_ptr<Scope> weak = defined_in;
    const auto* p = &params;
    const auto* b = &body;
    return Value::callable(name, [this, name, p, b, weak](CallArgs& a) -> Value {
      ScopePtr parent = weak.lock();
      if (!parent) fail("TemplateRuntimeError: macro '{}' called outside its scope", name);
      CallDepth depth(*this);
      auto s = std::make_shared<Scope>(parent);
      const auto& params = *p;
      std::vector<bool> given(params.size(), false);
      Array varargs;
      Object kwargs;
      for (size_t i = 0; i < a.args.size(); ++i) {
        if (i < params.size()) {
          s->set(params[i].first, a.args[i]);
          given[i] = true;
        } else {
          varargs.push_back(a.args[i]);
        }
      }
      for (auto& [k, v] : a.kwargs) {
        bool matched = false;
        for (size_t i = 0; i < params.size(); ++i) {
          if (params[i].first != k) continue;
          if (given[i])
            fail("TypeError: macro '{}' got multiple values for argument '{}'", name, k);
          s->set(k, v);
          given[i] = matched = true;
        }
        if (matched) continue;
        if (k == "caller") {
          s->set("caller", v);
        } else {
          kwargs.set(k, v);
        }
      }
      for (size_t i = 0; i < params.size(); ++i) {
        if (given[i]) continue;
        s->set(params[i].first, params[i].second
                                    ? eval(*params[i].second, s)
                                    : Value::undefined(fmt::format(
                                          "parameter '{}' was not provided", params[i].first)));
      }
      s->set("varargs", Value::tuple(std::move(varargs)));
      s->set("kwargs", Value(std::move(kwargs)));
      std::string buf;
      {
        OutputCapture cap(*this, buf);
        exec_body(*b, s);
      }
      return Value(std::move(buf));
    });
  }

  // ---- expressions ----
  Value lookup(const std::string& name, const ScopePtr& scope) const {
    for (const Scope* s = scope.get(); s; s = s->parent.get()) {
      if (const Value* v = s->find(name)) return *v;
    }
    if (const Value* v = ctx_.find(name)) return *v;
    if (const Value* v = globals_.find(name)) return *v;
    return Value::undefined(fmt::format("'{}' is undefined", name));
  }

  CallArgs eval_args(const Expr& e, const ScopePtr& scope) {
    CallArgs a;
    for (size_t i = 1; i < e.args.size(); ++i) a.args.push_back(eval(*e.args[i], scope));
    for (const auto& [k, v] : e.kwargs) a.kwargs.emplace_back(k, eval(*v, scope));
    return a;
  }

  Value eval_call(const Expr& e, const ScopePtr& scope, const Value* caller) {
    Value callee = eval(*e.args[0], scope);
    CallArgs a = eval_args(e, scope);
    if (caller) a.kwargs.emplace_back("caller", *caller);
    if (callee.is_undefined()) fail("UndefinedError: {}", callee.undefined_hint());
    if (!callee.is_callable()) fail("TypeError: '{}' object is not callable", callee.type_name());
    return callee.as_callable().fn(a);
  }

  Value eval(const Expr& e, const ScopePtr& scope) {
    step();
    try {
      return eval_inner(e, scope);
    } catch (TemplateError& err) {
      if (!err.has_pos()) err.set_pos(e.pos);
      throw;
    }
  }

  Value eval_inner(const Expr& e, const ScopePtr& scope) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.literal;
      case Expr::Kind::kName:
        return lookup(e.name, scope);
      case Expr::Kind::kList: {
        Array a;
        a.reserve(e.args.size());
        for (const auto& x : e.args) a.push_back(eval(*x, scope));
        return e.name == "tuple" ? Value::tuple(std::move(a)) : Value(std::move(a));
      }
      case Expr::Kind::kDict: {
        Object o;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          Value k = eval(*e.args[i], scope);
          if (!k.is_string()) fail("TypeError: dict keys must be strings, not {}", k.type_name());
          o.set(k.as_string(), eval(*e.args[i + 1], scope));
        }
        return o;
      }
      case Expr::Kind::kAttr:
        return get_attr(eval(*e.args[0], scope), e.name);
      case Expr::Kind::kItem: {
        Value obj = eval(*e.args[0], scope);
        return get_item(obj, eval(*e.args[1], scope));
      }
      case Expr::Kind::kSlice: {
        Value obj = eval(*e.args[0], scope);
        Value parts[3];
        for (int i = 0; i < 3; ++i) {
          parts[i] = e.args[static_cast<size_t>(i) + 1]
                         ? eval(*e.args[static_cast<size_t>(i) + 1], scope)
                         : Value::none();
        }
        return get_slice(obj, parts[0], parts[1], parts[2]);
      }
      case Expr::Kind::kCall:
        return eval_call(e, scope, nullptr);
      case Expr::Kind::kFilter: {
        Value operand = eval(*e.args[0], scope);
        return apply_filter(e.name, operand, eval_args(e, scope));
      }
      case Expr::Kind::kTest: {
        Value operand = eval(*e.args[0], scope);
        return apply_test(e.name, operand, eval_args(e, scope)) != e.negated;
      }
      case Expr::Kind::kUnary:
        return unary(e.name, eval(*e.args[0], scope));
      case Expr::Kind::kNot:
        return !eval(*e.args[0], scope).truthy();
      case Expr::Kind::kAnd: {
        Value l = eval(*e.args[0], scope);
        return l.truthy() ? eval(*e.args[1], scope) : l;
      }
      case Expr::Kind::kOr: {
        Value l = eval(*e.args[0], scope);
        return l.truthy() ? l : eval(*e.args[1], scope);
      }
      case Expr::Kind::kCompare: {
        Value left = eval(*e.args[0], scope);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.args[i + 1], scope);
          if (!compare(e.ops[i], left, right)) return false;
          left = std::move(right);
        }
        return true;
      }
      case Expr::Kind::kCond:
        if (eval(*e.args[1], scope).truthy()) return eval(*e.args[0], scope);
        if (e.args[2]) return eval(*e.args[2], scope);
        return Value::undefined(fmt::format(
            "the inline if-expression on line {} evaluated to false and no else section was "
            "defined.",
            e.pos.line));
      case Expr::Kind::kBinary: {
        Value l = eval(*e.args[0], scope);
        Value r = eval(*e.args[1], scope);
        return binary(e.name, l, r);
      }
    }
    return Value();
  }

  static bool compare(const std::string& op, const Value& l, const Value& r) {
    if (op == "==") return py::equals(l, r);
    if (op == "!=") return !py::equals(l, r);
    if (op == "in") return py::contains(r, l);
    if (op == "not in") return !py::contains(r, l);
    int c = py::compare(l, r, op);
    if (op == "<") return c < 0;
    if (op == "<=") return c <= 0;
    if (op == ">") return c > 0;
    return c >= 0;
  }

  static Value unary(const std::string& op, const Value& v) {
    if (v.is_undefined()) fail("UndefinedError: {}", v.undefined_hint());
    if (v.is_float()) return op == "-" ? -v.as_float() : v.as_float();
    if (v.is_int() || v.is_bool()) {
      int64_t x = v.int_like();
      if (op == "+") return x;
      if (x == INT64_MIN) overflow();
      return -x;
    }
    fail("TypeError: bad operand type for unary {}: '{}'", op, v.type_name());
  }

  Value repeat(const Value& seq, int64_t n) const {
    n = std::max<int64_t>(n, 0);
    // "" * 10**18 is empty, and must not loop 10**18 times to find out.
    if (seq.is_string() ? seq.as_string().empty() : seq.as_array().empty()) n = 0;
    if (seq.is_string()) {
      const std::string& s = seq.as_string();
      check_size(s.size() * static_cast<size_t>(std::min<int64_t>(n, INT32_MAX)));
      std::string out;
      for (int64_t i = 0; i < n; ++i) out += s;
      return out;
    }
    const Array& a = seq.as_array();
    check_size(a.size() * static_cast<size_t>(std::min<int64_t>(n, INT32_MAX)) * sizeof(Value));
    Array out;
    for (int64_t i = 0; i < n; ++i) out.insert(out.end(), a.begin(), a.end());
    return out;
  }

  Value binary(const std::string& op, const Value& l, const Value& r) const {
    if (op == "~") {
      std::string s = py::str(l) + py::str(r);
      check_size(s.size());
      return s;
    }
    if (l.is_undefined()) fail("UndefinedError: {}", l.undefined_hint());
    if (r.is_undefined()) fail("UndefinedError: {}", r.undefined_hint());
    const bool nums = l.is_number() && r.is_number();
    const bool ints = nums && !l.is_float() && !r.is_float();
    if (op == "+") {
      if (ints) {
        int64_t out;
        if (__builtin_add_overflow(l.int_like(), r.int_like(), &out)) overflow();
        return out;
      }
      if (nums) return l.number() + r.number();
      if (l.is_string() && r.is_string()) {
        check_size(l.as_string().size() + r.as_string().size());
        return l.as_string() + r.as_string();
      }
      if (l.is_array() && r.is_array()) {
        Array out = l.as_array();
        out.insert(out.end(), r.as_array().begin(), r.as_array().end());
        return out;
      }
      if (l.is_string() || l.is_array()) {
        fail("TypeError: can only concatenate {} (not \"{}\") to {}", l.type_name(), r.type_name(),
             l.type_name());
      }
    } else if (op == "-") {
      if (ints) {
        int64_t out;
        if (__builtin_sub_overflow(l.int_like(), r.int_like(), &out)) overflow();
        return out;
      }
      if (nums) return l.number() - r.number();
    } else if (op == "*") {
      if (ints) {
        int64_t out;
        if (__builtin_mul_overflow(l.int_like(), r.int_like(), &out)) overflow();
        return out;
      }
      if (nums) return l.number() * r.number();
      bool l_seq = l.is_string() || l.is_array();
      bool r_seq = r.is_string() || r.is_array();
      if (l_seq && (r.is_int() || r.is_bool())) return repeat(l, r.int_like());
      if (r_seq && (l.is_int() || l.is_bool())) return repeat(r, l.int_like());
    } else if (op == "/") {
      if (nums) {
        if (r.number() == 0.0) fail("ZeroDivisionError: division by zero");
        return l.number() / r.number();
      }
    } else if (op == "//" || op == "%") {
      if (op == "%" && l.is_string()) return percent_format(l.as_string(), r);
      if (ints) {
        int64_t a = l.int_like(), b = r.int_like();
        if (b == 0) fail("ZeroDivisionError: integer division or modulo by zero");
        if (a == INT64_MIN && b == -1) overflow();
        int64_t q = a / b, m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) {
          --q;
          m += b;
        }
        return op == "//" ? q : m;
      }
      if (nums) {
        double a = l.number(), b = r.number();
        if (b == 0.0) fail("ZeroDivisionError: float division by zero");
        double m = std::fmod(a, b);
        if (m != 0.0 && ((m < 0) != (b < 0))) m += b;
        if (op == "%") return m;
        // CPython's float floor division: round the exact quotient of (a - a mod b) / b.
        double div = (a - m) / b;
        double fl = std::floor(div);
        if (div - fl > 0.5) fl += 1.0;
        return fl;
      }
    } else if (op == "**") {
      if (ints && r.int_like() >= 0) {
        int64_t base = l.int_like(), exp = r.int_like(), out = 1;
        for (int64_t i = 0; i < exp; ++i) {
          if (__builtin_mul_overflow(out, base, &out)) overflow();
          if (out == 0 || out == 1) break;
        }
        return out;
      }
      if (nums) return std::pow(l.number(), r.number());
    }
    fail("TypeError: unsupported operand type(s) for {}: '{}' and '{}'", op, l.type_name(),
         r.type_name());
  }

  void make_globals() {
    globals_.set(
        "range", Value::callable("range", [](CallArgs& a) -> Value {
          ArgBinder b("range", a, {"a", "b", "c"});
          auto as_int = [](const Value* v) {
            if (!v || !(v->is_int() || v->is_bool())) fail("TypeError: range() needs integers");
            return v->int_like();
          };
          int64_t start = 0, stop = 0, stride = 1;
          if (!b.get(1)) {
            stop = as_int(b.get(0));
          } else {
            start = as_int(b.get(0));
            stop = as_int(b.get(1));
            if (b.get(2)) stride = as_int(b.get(2));
          }
          if (stride == 0) fail("ValueError: range() arg 3 must not be zero");
          Array out;
          for (int64_t i = start; stride > 0 ? i < stop : i > stop;) {
            // jinja2's sandbox refuses ranges over MAX_RANGE items.
            if (out.size() >= 100000) {
              fail(
                  "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE "
                  "(100000).");
            }
            out.emplace_back(i);
            // Past INT64_MAX the range has ended (it cannot reach a stop beyond it).
            if (__builtin_add_overflow(i, stride, &i)) break;
          }
          return out;
        }));
    globals_.set("namespace", Value::callable("namespace", [](CallArgs& a) -> Value {
                   auto ns = std::make_shared<Namespace>();
                   for (const auto& v : a.args) {
                     if (!v.is_object())
                       fail("TypeError: namespace() positional argument must be a dict");
                     for (const auto& [k, e] : v.as_object().items()) ns->attrs.set(k, e);
                   }
                   for (const auto& [k, v] : a.kwargs) ns->attrs.set(k, v);
                   return Value(std::move(ns));
                 }));
    globals_.set("dict", Value::callable("dict", [](CallArgs& a) -> Value {
                   Object o;
                   for (const auto& v : a.args) {
                     if (!v.is_object())
                       fail("TypeError: dict() positional argument must be a dict");
                     for (const auto& [k, e] : v.as_object().items()) o.set(k, e);
                   }
                   for (const auto& [k, v] : a.kwargs) o.set(k, v);
                   return o;
                 }));
    globals_.set("raise_exception", Value::callable("raise_exception", [](CallArgs& a) -> Value {
                   throw TemplateError(a.args.empty() ? std::string() : py::str(a.args[0]));
                 }));
    globals_.set("strftime_now", Value::callable("strftime_now", [this](CallArgs& a) -> Value {
                   ArgBinder b("strftime_now", a, {"format"});
                   if (!b.get(0) || !b.get(0)->is_string())
                     fail("TypeError: strftime_now() needs a format string");
                   if (!env_.strftime_now) fail("strftime_now is not available");
                   return env_.strftime_now(b.get(0)->as_string());
                 }));
  }

  const Object& ctx_;
  const RenderEnv& env_;
  Object globals_;
  std::string* out_ = nullptr;
  uint64_t steps_ = 0;
  int call_depth_ = 0;
};

// jinja2 rejects unknown filters and tests when it compiles a template, except in "soft"
// frames (if-statements and inline ifs), where the failure waits until the call runs; loop,
// macro and set-block bodies start hard frames again.
void check_expr(const Expr* e, bool soft) {
  if (!e) return;
  if (!soft && e->kind == Expr::Kind::kFilter && !has_filter(e->name)) {
    fail_at(e->pos, "TemplateAssertionError: no filter named '{}'", e->name);
  }
  if (!soft && e->kind == Expr::Kind::kTest && !has_test(e->name)) {
    fail_at(e->pos, "TemplateAssertionError: no test named '{}'", e->name);
  }
  const bool inner_soft = soft || e->kind == Expr::Kind::kCond;
  for (const auto& a : e->args) check_expr(a.get(), inner_soft);
  for (const auto& kv : e->kwargs) check_expr(kv.second.get(), inner_soft);
}

void check_body(const Body& body, bool soft) {
  for (const auto& n : body) {
    switch (n->kind) {
      case Node::Kind::kIf:
        for (const auto& [cond, b] : n->branches) {
          check_expr(cond.get(), true);
          check_body(b, true);
        }
        check_body(n->else_body, true);
        break;
      case Node::Kind::kFor:
        check_expr(n->expr.get(), soft);
        check_expr(n->filter.get(), false);
        check_body(n->body, false);
        check_body(n->else_body, false);
        break;
      default:
        check_expr(n->expr.get(), soft);
        for (const auto& kv : n->params) check_expr(kv.second.get(), false);
        check_body(n->body, false);
        break;
    }
  }
}

}  // namespace

void check_names(const Body& body) {
  check_body(body, false);
}

std::string render_template(const Body& body, const Object& context, const RenderEnv& env) {
  return Interpreter(context, env).run(body);
}

}  // namespace tessera::tmpl
