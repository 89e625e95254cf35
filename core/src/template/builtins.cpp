// jinja2's filters and tests (jinja2/filters.py, jinja2/tests.py) as the chat templates of
// Hugging Face models use them, with tojson replaced by Hugging Face's version
// (json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=...)).
#include <algorithm>
#include <cmath>
#include <functional>
#include <unordered_map>

#include "template/builtins.h"
#include "template/py_ops.h"
#include "template/template_error.h"

namespace tessera::tmpl {
namespace {

using FilterFn = std::function<Value(const Value&, const CallArgs&)>;
using TestFn = std::function<bool(const Value&, const CallArgs&)>;

// soft_str: what filters that take text see (Undefined -> "", None -> "None").
std::string text_of(const Value& v) {
  return py::str(v);
}

// jinja2's make_attrgetter: "a.b.0" walks attributes / items, digits as list indices.
Value attr_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(),
                                               [](char c) { return c >= '0' && c <= '9'; });
    cur = digits ? get_item(cur, Value(static_cast<int64_t>(std::stoll(part))))
                 : get_item(cur, Value(part));
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

// Sort key comparison with jinja2's case-insensitive default for strings.
bool less_than(const Value& a, const Value& b, bool case_sensitive) {
  if (!case_sensitive && a.is_string() && b.is_string()) {
    return py::lower(a.as_string()) < py::lower(b.as_string());
  }
  return py::compare(a, b, "<") < 0;
}

Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value(py::lower(v.as_string()));
  return v;
}

int64_t to_int(const Value& v, const Value& fallback) {
  if (v.is_int() || v.is_bool()) return v.int_like();
  if (v.is_float()) {
    double d = v.as_float();
    if (std::isfinite(d) && std::abs(d) < 9.2e18) return static_cast<int64_t>(d);
    return fallback.is_number() ? fallback.int_like() : 0;
  }
  if (v.is_string()) {
    std::string s = py::replace(py::strip(v.as_string(), true, true), "_", "");
    try {
      size_t used = 0;
      long long x = std::stoll(s, &used, 10);
      if (used == s.size()) return x;
      double d = std::stod(s, &used);
      if (used == s.size() && std::isfinite(d)) return static_cast<int64_t>(d);
    } catch (const std::exception&) {
    }
  }
  return fallback.is_float() ? static_cast<int64_t>(fallback.as_float()) : fallback.int_like();
}

double to_float(const Value& v, double fallback) {
  if (v.is_number()) return v.number();
  if (v.is_string()) {
    std::string s = py::strip(v.as_string(), true, true);
    try {
      size_t used = 0;
      double d = std::stod(s, &used);
      if (used == s.size()) return d;
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

// Python's round() for floats: round half to even at the requested precision.
double py_round(double x, int64_t ndigits) {
  double scale = std::pow(10.0, static_cast<double>(ndigits));
  double y = x * scale;
  double r = std::nearbyint(y);
  if (std::abs(y - std::trunc(y)) != 0.5) r = std::round(y);
  return r / scale;
}

Value do_tojson(const Value& v, const CallArgs& a) {
  ArgBinder b("tojson", a, {"ensure_ascii", "indent", "separators", "sort_keys"});
  py::JsonOptions opt;
  opt.ensure_ascii = b.get_or(0, Value(false)).truthy();
  if (const Value* ind = b.get(1); ind && !ind->is_none()) {
    if (ind->is_string()) {
      opt.indent = ind->as_string();
    } else if (ind->is_int() || ind->is_bool()) {
      opt.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, ind->int_like())), ' ');
    } else {
      fail("TypeError: tojson indent must be an int or a string, not {}", ind->type_name());
    }
    opt.item_sep = ",";
  }
  if (const Value* sep = b.get(2); sep && !sep->is_none()) {
    if (!sep->is_array() || sep->as_array().size() != 2 || !sep->as_array()[0].is_string() ||
        !sep->as_array()[1].is_string()) {
      fail("TypeError: tojson separators must be a pair of strings");
    }
    opt.item_sep = sep->as_array()[0].as_string();
    opt.key_sep = sep->as_array()[1].as_string();
  }
  opt.sort_keys = b.get_or(3, Value(false)).truthy();
  return py::to_json(v, opt);
}

Value do_map(const Value& v, const CallArgs& a) {
  Array out;
  bool by_attr = false;
  std::string attribute;
  Value fallback;
  for (const auto& [k, val] : a.kwargs) {
    if (k == "attribute") {
      by_attr = true;
      attribute = text_of(val);
    } else if (k == "default") {
      fallback = val;
    } else if (a.args.empty()) {
      fail("TypeError: map() got an unexpected keyword argument '{}'", k);
    }
  }
  if (by_attr) {
    for (const auto& item : iterate(v)) {
      Value x = attr_path(item, attribute);
      out.push_back(x.is_undefined() && !fallback.is_undefined() ? fallback : x);
    }
    return out;
  }
  if (a.args.empty() || !a.args[0].is_string())
    fail("FilterArgumentError: map requires a filter name");
  std::string name = a.args[0].as_string();
  CallArgs rest;
  rest.args.assign(a.args.begin() + 1, a.args.end());
  rest.kwargs = a.kwargs;
  for (const auto& item : iterate(v)) out.push_back(apply_filter(name, item, rest));
  return out;
}

Value do_select(const Value& v, const CallArgs& a, bool by_attr, bool keep) {
  size_t first = 0;
  std::string attribute;
  if (by_attr) {
    if (a.args.empty()) fail("TypeError: selectattr/rejectattr need an attribute name");
    attribute = text_of(a.args[0]);
    first = 1;
  }
  std::string test;
  CallArgs test_args;
  if (a.args.size() > first) {
    test = text_of(a.args[first]);
    test_args.args.assign(a.args.begin() + static_cast<std::ptrdiff_t>(first) + 1, a.args.end());
    test_args.kwargs = a.kwargs;
  }
  Array out;
  for (const auto& item : iterate(v)) {
    Value x = by_attr ? attr_path(item, attribute) : item;
    bool ok = test.empty() ? x.truthy() : apply_test(test, x, test_args);
    if (ok == keep) out.push_back(item);
  }
  return out;
}

Value do_sort(const Value& v, const CallArgs& a) {
  ArgBinder b("sort", a, {"reverse", "case_sensitive", "attribute"});
  bool reverse = b.get_or(0, Value(false)).truthy();
  bool cs = b.get_or(1, Value(false)).truthy();
  const Value* attr = b.get(2);
  Array items = iterate(v);
  auto key = [&](const Value& x) {
    return sort_key(attr && !attr->is_none() ? attr_path(x, text_of(*attr)) : x, cs);
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? less_than(key(y), key(x), true) : less_than(key(x), key(y), true);
  });
  return items;
}

Value do_minmax(const Value& v, const CallArgs& a, bool want_max) {
  ArgBinder b(want_max ? "max" : "min", a, {"case_sensitive", "attribute"});
  bool cs = b.get_or(0, Value(false)).truthy();
  const Value* attr = b.get(1);
  Array items = iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  auto key = [&](const Value& x) {
    return sort_key(attr && !attr->is_none() ? attr_path(x, text_of(*attr)) : x, cs);
  };
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    bool better = want_max ? less_than(key(items[best]), key(items[i]), true)
                           : less_than(key(items[i]), key(items[best]), true);
    if (better) best = i;
  }
  return items[best];
}

Value do_indent(const Value& v, const CallArgs& a) {
  ArgBinder b("indent", a, {"width", "first", "blank"});
  Value width = b.get_or(0, Value(static_cast<int64_t>(4)));
  std::string ind =
      width.is_string()
          ? width.as_string()
          : std::string(static_cast<size_t>(std::max<int64_t>(0, width.int_like())), ' ');
  bool first = b.get_or(1, Value(false)).truthy();
  bool blank = b.get_or(2, Value(false)).truthy();
  std::string s = text_of(v) + "\n";
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t p = s.find('\n'); p != std::string::npos; p = s.find('\n', start)) {
    lines.push_back(s.substr(start, p - start));
    start = p + 1;
  }
  std::string rv = lines.empty() ? "" : lines[0];
  for (size_t i = 1; i < lines.size(); ++i) {
    rv += "\n";
    if (blank || !lines[i].empty()) rv += ind;
    rv += lines[i];
  }
  if (first) rv = ind + rv;
  return rv;
}

Value do_unique(const Value& v, const CallArgs& a) {
  ArgBinder b("unique", a, {"case_sensitive", "attribute"});
  bool cs = b.get_or(0, Value(false)).truthy();
  const Value* attr = b.get(1);
  Array out, seen;
  for (const auto& item : iterate(v)) {
    Value k = sort_key(attr && !attr->is_none() ? attr_path(item, text_of(*attr)) : item, cs);
    bool dup =
        std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return py::equals(s, k); });
    if (!dup) {
      seen.push_back(k);
      out.push_back(item);
    }
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

const std::unordered_map<std::string, FilterFn>& filters() {
  static const std::unordered_map<std::string, FilterFn> kFilters = [] {
    std::unordered_map<std::string, FilterFn> f;
    f["tojson"] = do_tojson;
    f["trim"] = [](const Value& v, const CallArgs& a) -> Value {
      ArgBinder b("trim", a, {"chars"});
      const Value* chars = b.get(0);
      std::string cs = chars && !chars->is_none() ? text_of(*chars) : "";
      return py::strip(text_of(v), true, true, chars && !chars->is_none() ? &cs : nullptr);
    };
    f["length"] = [](const Value& v, const CallArgs& a) -> Value {
      ArgBinder b("length", a, {});
      return length_of(v);
    };
    f["count"] = f["length"];
    f["upper"] = [](const Value& v, const CallArgs&) -> Value { return py::upper(text_of(v)); };
    f["lower"] = [](const Value& v, const CallArgs&) -> Value { return py::lower(text_of(v)); };
    f["title"] = [](const Value& v, const CallArgs&) -> Value { return py::title(text_of(v)); };
    f["capitalize"] = [](const Value& v, const CallArgs&) -> Value {
      return py::capitalize(text_of(v));
    };
    f["replace"] = [](const Value& v, const CallArgs& a) -> Value {
      ArgBinder b("replace", a, {"old", "new", "count"});
      if (!b.get(0) || !b.get(1)) fail("TypeError: replace() needs old and new");
      int64_t count = b.get(2) && !b.get(2)->is_none() ? b.get(2)->int_like() : -1;
      return py::replace(text_of(v), text_of(*b.get(0)), text_of(*b.get(1)), count);
    };
    f["join"] = [](const Value& v, const CallArgs& a) -> Value {
      ArgBinder b("join", a, {"d", "attribute"});
      std::string sep = text_of(b.get_or(0, Value("")));
      const Value* attr = b.get(1);
      std::string out;
      bool first = true;
      for (const auto& item : iterate(v)) {
        if (!first) out += sep;
        first = false;
        out += text_of(attr && !attr->is_none() ? attr_path(item, text_of(*attr)) : item);
      }
      return out;
    };
    f["first"] = [](const Value& v, const CallArgs&) -> Value {
      Array items = iterate(v);
      if (items.empty()) return Value::undefined("No first item, sequence was empty.");
      return items.front();
    };
    f["last"] = [](const Value& v, const CallArgs&) -> Value {
      Array items = iterate(v);
      if (items.empty()) return Value::undefined("No last item, sequence was empty.");
      return items.back();
    };
    f["default"] = [](const Value& v, const CallArgs& a) -> Value {
      ArgBinder b("default", a, {"default_value", "boolean"});
      bool boolean = b.get_or(1, Value(false)).truthy();
      if (v.is_undefined() || (boolean && !v.truthy())) return b.get_or(0, Value(""));
      return v;
    };
    f["d"] = f["default"];
    f["string"] = [](const Value& v, const CallArgs&) -> Value { return text_of(v); };
    f["int"] = [](const Value& v, const CallArgs& a) -> Value {
      ArgBinder b("int", a, {"default", "base"});
      return to_int(v, b.get_or(0, Value(static_cast<int64_t>(0))));
    };
    f["float"] = [](const Value& v, const CallArgs& a) -> Value {
      ArgBinder b("float", a, {"default"});
      return to_float(v, b.get_or(0, Value(0.0)).number());
    };
    f["abs"] = [](const Value& v, const CallArgs&) -> Value {
      if (v.is_float()) return std::abs(v.as_float());
      if (v.is_int() || v.is_bool()) return static_cast<int64_t>(std::llabs(v.int_like()));
      fail("TypeError: bad operand type for abs(): '{}'", v.type_name());
    };
    f["round"] = [](const Value& v, const CallArgs& a) -> Value {
      ArgBinder b("round", a, {"precision", "method"});
      int64_t prec = b.get_or(0, Value(static_cast<int64_t>(0))).int_like();
      std::string method = text_of(b.get_or(1, Value("common")));
      double x = v.number();
      double s = std::pow(10.0, static_cast<double>(prec));
      if (method == "ceil") return std::ceil(x * s) / s;
      if (method == "floor") return std::floor(x * s) / s;
      if (method != "common") fail("FilterArgumentError: method must be common, ceil or floor");
      return py_round(x, prec);
    };
    f["list"] = [](const Value& v, const CallArgs&) -> Value { return iterate(v); };
    f["items"] = [](const Value& v, const CallArgs&) -> Value {
      if (v.is_undefined()) return Array{};
      if (!v.is_object()) fail("TypeError: Can only get item pairs from a mapping.");
      Array out;
      for (const auto& [k, e] : v.as_object().items())
        out.push_back(Value::tuple(Array{Value(k), e}));
      return out;
    };
    f["dictsort"] = [](const Value& v, const CallArgs& a) -> Value {
      ArgBinder b("dictsort", a, {"case_sensitive", "by", "reverse"});
      if (!v.is_object()) fail("TypeError: dictsort needs a mapping");
      bool cs = b.get_or(0, Value(false)).truthy();
      bool by_value = text_of(b.get_or(1, Value("key"))) == "value";
      bool reverse = b.get_or(2, Value(false)).truthy();
      Array out;
      for (const auto& [k, e] : v.as_object().items())
        out.push_back(Value::tuple(Array{Value(k), e}));
      std::stable_sort(out.begin(), out.end(), [&](const Value& x, const Value& y) {
        const Value& kx = x.as_array()[by_value ? 1 : 0];
        const Value& ky = y.as_array()[by_value ? 1 : 0];
        return reverse ? less_than(ky, kx, cs) : less_than(kx, ky, cs);
      });
      return out;
    };
    f["map"] = do_map;
    f["select"] = [](const Value& v, const CallArgs& a) { return do_select(v, a, false, true); };
    f["reject"] = [](const Value& v, const CallArgs& a) { return do_select(v, a, false, false); };
    f["selectattr"] = [](const Value& v, const CallArgs& a) { return do_select(v, a, true, true); };
    f["rejectattr"] = [](const Value& v, const CallArgs& a) {
      return do_select(v, a, true, false);
    };
    f["sort"] = do_sort;
    f["unique"] = do_unique;
    f["min"] = [](const Value& v, const CallArgs& a) { return do_minmax(v, a, false); };
    f["max"] = [](const Value& v, const CallArgs& a) { return do_minmax(v, a, true); };
    f["sum"] = [](const Value& v, const CallArgs& a) -> Value {
      ArgBinder b("sum", a, {"attribute", "start"});
      const Value* attr = b.get(0);
      Value total = b.get_or(1, Value(static_cast<int64_t>(0)));
      for (const auto& item : iterate(v)) {
        Value x = attr && !attr->is_none() ? attr_path(item, text_of(*attr)) : item;
        if (!x.is_number() || !total.is_number()) fail("TypeError: sum of non-numbers");
        if (x.is_float() || total.is_float()) {
          total = Value(total.number() + x.number());
        } else {
          total = Value(total.int_like() + x.int_like());
        }
      }
      return total;
    };
    f["reverse"] = [](const Value& v, const CallArgs&) -> Value {
      if (v.is_string()) {
        std::u32string u = py::decode(v.as_string());
        std::reverse(u.begin(), u.end());
        return py::encode(u);
      }
      Array items = iterate(v);
      std::reverse(items.begin(), items.end());
      return items;
    };
    f["safe"] = [](const Value& v, const CallArgs&) -> Value { return v; };
    f["escape"] = [](const Value& v, const CallArgs&) -> Value { return html_escape(text_of(v)); };
    f["e"] = f["escape"];
    f["indent"] = do_indent;
    f["format"] = [](const Value& v, const CallArgs& a) -> Value {
      if (!a.kwargs.empty())
        fail("FilterArgumentError: format with keyword arguments is not supported");
      return percent_format(text_of(v), Value::tuple(a.args));
    };
    f["attr"] = [](const Value& v, const CallArgs& a) -> Value {
      ArgBinder b("attr", a, {"name"});
      return get_attr(v, text_of(b.get_or(0, Value(""))));
    };
    f["wordcount"] = [](const Value& v, const CallArgs&) -> Value {
      return static_cast<int64_t>(py::split(text_of(v), nullptr).size());
    };
    f["center"] = [](const Value& v, const CallArgs& a) -> Value {
      ArgBinder b("center", a, {"width"});
      std::string s = text_of(v);
      int64_t width = b.get_or(0, Value(static_cast<int64_t>(80))).int_like();
      int64_t len = static_cast<int64_t>(py::length(s));
      if (width <= len) return s;
      int64_t pad = width - len;
      int64_t left = pad / 2 + (pad & width & 1);
      return std::string(static_cast<size_t>(left), ' ') + s +
             std::string(static_cast<size_t>(pad - left), ' ');
    };
    return f;
  }();
  return kFilters;
}

bool compare_test(const Value& v, const CallArgs& a, const char* op) {
  ArgBinder b(op, a, {"other"});
  if (!b.get(0)) fail("TypeError: test '{}' needs an argument", op);
  const Value& o = *b.get(0);
  std::string_view s(op);
  if (s == "==") return py::equals(v, o);
  if (s == "!=") return !py::equals(v, o);
  int c = py::compare(v, o, op);
  if (s == "<") return c < 0;
  if (s == "<=") return c <= 0;
  if (s == ">") return c > 0;
  return c >= 0;
}

const std::unordered_map<std::string, TestFn>& tests() {
  static const std::unordered_map<std::string, TestFn> kTests = [] {
    std::unordered_map<std::string, TestFn> t;
    t["defined"] = [](const Value& v, const CallArgs&) { return !v.is_undefined(); };
    t["undefined"] = [](const Value& v, const CallArgs&) { return v.is_undefined(); };
    t["none"] = [](const Value& v, const CallArgs&) { return v.is_none(); };
    t["boolean"] = [](const Value& v, const CallArgs&) { return v.is_bool(); };
    t["true"] = [](const Value& v, const CallArgs&) { return v.is_bool() && v.as_bool(); };
    t["false"] = [](const Value& v, const CallArgs&) { return v.is_bool() && !v.as_bool(); };
    t["integer"] = [](const Value& v, const CallArgs&) { return v.is_int(); };
    t["float"] = [](const Value& v, const CallArgs&) { return v.is_float(); };
    t["number"] = [](const Value& v, const CallArgs&) { return v.is_number(); };
    t["string"] = [](const Value& v, const CallArgs&) { return v.is_string(); };
    t["mapping"] = [](const Value& v, const CallArgs&) { return v.is_object(); };
    t["iterable"] = [](const Value& v, const CallArgs&) {
      return v.is_undefined() || v.is_string() || v.is_array() || v.is_object();
    };
    t["sequence"] = t["iterable"];
    t["callable"] = [](const Value& v, const CallArgs&) { return v.is_callable(); };
    t["escaped"] = [](const Value&, const CallArgs&) { return false; };
    t["lower"] = [](const Value& v, const CallArgs&) {
      std::string s = text_of(v);
      return py::upper(s) != s && py::lower(s) == s;
    };
    t["upper"] = [](const Value& v, const CallArgs&) {
      std::string s = text_of(v);
      return py::lower(s) != s && py::upper(s) == s;
    };
    t["odd"] = [](const Value& v, const CallArgs&) {
      if (!v.is_int() && !v.is_bool()) fail("TypeError: odd test needs an integer");
      return v.int_like() % 2 != 0;
    };
    t["even"] = [](const Value& v, const CallArgs&) {
      if (!v.is_int() && !v.is_bool()) fail("TypeError: even test needs an integer");
      return v.int_like() % 2 == 0;
    };
    t["divisibleby"] = [](const Value& v, const CallArgs& a) {
      ArgBinder b("divisibleby", a, {"num"});
      if (!b.get(0) || !b.get(0)->is_number() || !v.is_number()) {
        fail("TypeError: divisibleby needs numbers");
      }
      if (b.get(0)->int_like() == 0) fail("ZeroDivisionError: integer modulo by zero");
      return v.int_like() % b.get(0)->int_like() == 0;
    };
    t["sameas"] = [](const Value& v, const CallArgs& a) {
      ArgBinder b("sameas", a, {"other"});
      const Value& o = b.get_or(0, Value::undefined(""));
      if (v.is_none() || v.is_bool() || v.is_undefined())
        return py::equals(v, o) && v.kind() == o.kind();
      return false;
    };
    t["in"] = [](const Value& v, const CallArgs& a) {
      ArgBinder b("in", a, {"seq"});
      return py::contains(b.get_or(0, Value::undefined("")), v);
    };
    t["filter"] = [](const Value& v, const CallArgs&) {
      return v.is_string() && has_filter(v.as_string());
    };
    t["test"] = [](const Value& v, const CallArgs&) {
      return v.is_string() && has_test(v.as_string());
    };
    const std::pair<const char*, const char*> kCompare[] = {
        {"eq", "=="}, {"equalto", "=="},    {"==", "=="}, {"ne", "!="}, {"!=", "!="},
        {"lt", "<"},  {"lessthan", "<"},    {"<", "<"},   {"le", "<="}, {"<=", "<="},
        {"gt", ">"},  {"greaterthan", ">"}, {">", ">"},   {"ge", ">="}, {">=", ">="}};
    for (const auto& [name, op] : kCompare) {
      const char* o = op;
      t[name] = [o](const Value& v, const CallArgs& a) { return compare_test(v, a, o); };
    }
    return t;
  }();
  return kTests;
}

}  // namespace

bool has_filter(std::string_view name) {
  return filters().count(std::string(name)) > 0;
}
bool has_test(std::string_view name) {
  return tests().count(std::string(name)) > 0;
}

Value apply_filter(std::string_view name, const Value& operand, const CallArgs& args) {
  auto it = filters().find(std::string(name));
  if (it == filters().end()) fail("TemplateAssertionError: no filter named '{}'", name);
  return it->second(operand, args);
}

bool apply_test(std::string_view name, const Value& operand, const CallArgs& args) {
  auto it = tests().find(std::string(name));
  if (it == tests().end()) fail("TemplateAssertionError: no test named '{}'", name);
  return it->second(operand, args);
}

}  // namespace tessera::tmpl
