// Attribute, item and slice access, iteration, and the Python methods templates call on str,
// dict and list values. Mirrors jinja2's ImmutableSandboxedEnvironment: methods that mutate a
// list or dict are refused with a SecurityError, as Hugging Face's renderer refuses them.
#include <algorithm>

#include "template/builtins.h"
#include "template/py_ops.h"
#include "template/template_error.h"

namespace tessera::tmpl {

ArgBinder::ArgBinder(std::string_view function, const CallArgs& args,
                     std::initializer_list<std::string_view> names)
    : bound_(names.size(), nullptr) {
  for (size_t i = 0; i < args.args.size(); ++i) {
    if (i < names.size()) {
      bound_[i] = &args.args[i];
    } else {
      rest_.push_back(args.args[i]);
    }
  }
  for (const auto& [key, value] : args.kwargs) {
    auto it = std::find(names.begin(), names.end(), key);
    if (it == names.end()) {
      fail("TypeError: {}() got an unexpected keyword argument '{}'", function, key);
    }
    size_t idx = static_cast<size_t>(it - names.begin());
    if (bound_[idx]) fail("TypeError: {}() got multiple values for argument '{}'", function, key);
    bound_[idx] = &value;
  }
}

namespace {

std::string object_repr(const Value& v) {
  if (v.is_undefined()) return "Undefined";
  if (v.is_none()) return "None";
  return v.type_name() + " object";
}

Value missing_attr(const Value& obj, const std::string& name) {
  return Value::undefined(fmt::format("'{}' has no attribute '{}'", object_repr(obj), name));
}

[[noreturn]] void unsafe(const Value& obj, const std::string& name) {
  fail("SecurityError: access to attribute '{}' of '{}' object is unsafe.", name, obj.type_name());
}

const std::string& need_string(const Value* v, std::string_view what) {
  if (!v || !v->is_string()) {
    fail("TypeError: {} must be str, not {}", what, v ? v->type_name() : "nothing");
  }
  return v->as_string();
}

int64_t need_int(const Value* v, std::string_view what) {
  if (!v || !(v->is_int() || v->is_bool())) {
    fail("TypeError: {} must be an integer, not {}", what, v ? v->type_name() : "nothing");
  }
  return v->int_like();
}

// Byte offset -> code point index, for str.find and friends.
int64_t cp_index(const std::string& s, size_t byte_off) {
  return static_cast<int64_t>(py::length(std::string_view(s).substr(0, byte_off)));
}

bool str_predicate(const std::string& s, bool (*pred)(char32_t)) {
  if (s.empty()) return false;
  for (char32_t c : py::decode(s)) {
    if (!pred(c)) return false;
  }
  return true;
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const Value& a) {
    const std::string& x = need_string(&a, prefix ? "startswith arg" : "endswith arg");
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0
                  : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_array()) {
    for (const auto& a : affix.as_array()) {
      if (one(a)) return true;
    }
    return false;
  }
  return one(affix);
}

std::string python_title(const std::string& s) {
  std::u32string u = py::decode(s);
  bool prev_cased = false;
  for (auto& c : u) {
    std::string one;
    py::append_utf8(one, c);
    bool is_upper = py::lower(one) != one;
    bool is_lower = py::upper(one) != one;
    bool cased = is_upper || is_lower;
    if (cased) {
      std::string conv = prev_cased ? py::lower(one) : py::upper(one);
      c = py::decode(conv)[0];
    }
    prev_cased = cased;
  }
  return py::encode(u);
}

std::vector<std::string> splitlines(const std::string& s, bool keepends) {
  std::vector<std::string> out;
  size_t start = 0, i = 0;
  while (i < s.size()) {
    size_t eol_len = 0;
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      eol_len = 2;
    } else if (s[i] == '\n' || s[i] == '\r' || s[i] == '\v' || s[i] == '\f' || s[i] == '\x1c' ||
               s[i] == '\x1d' || s[i] == '\x1e') {
      eol_len = 1;
    }
    if (eol_len == 0) {
      ++i;
      continue;
    }
    out.push_back(s.substr(start, (keepends ? i + eol_len : i) - start));
    i += eol_len;
    start = i;
  }
  if (start < s.size()) out.push_back(s.substr(start));
  return out;
}

Array to_array(const std::vector<std::string>& v) {
  Array a;
  a.reserve(v.size());
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

// str.format with positional {} / {0} and keyword {name} fields, no format specs.
std::string str_format(const std::string& fmt_str, const CallArgs& args) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < fmt_str.size(); ++i) {
    char c = fmt_str[i];
    if (c == '}' && i + 1 < fmt_str.size() && fmt_str[i + 1] == '}') {
      out += '}';
      ++i;
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt_str.size() && fmt_str[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    size_t close = fmt_str.find('}', i);
    if (close == std::string::npos) fail("ValueError: Single '{{' encountered in format string");
    std::string field = fmt_str.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos) {
      fail("ValueError: format specs in str.format are not supported by this interpreter");
    }
    const Value* v = nullptr;
    if (field.empty()) {
      if (auto_idx < args.args.size()) v = &args.args[auto_idx];
      ++auto_idx;
    } else if (std::all_of(field.begin(), field.end(),
                           [](char d) { return d >= '0' && d <= '9'; })) {
      size_t idx = std::stoul(field);
      if (idx < args.args.size()) v = &args.args[idx];
    } else {
      for (const auto& [k, val] : args.kwargs) {
        if (k == field) v = &val;
      }
    }
    if (!v) fail("IndexError: Replacement index {} out of range for str.format", field);
    out += py::str(*v);
    i = close;
  }
  return out;
}

Value string_method(const std::string& s, const std::string& name, const CallArgs& a) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ArgBinder b(name, a, {"chars"});
    const Value* chars = b.get(0);
    const std::string* cs = nullptr;
    if (chars && !chars->is_none()) cs = &need_string(chars, "strip arg");
    return py::strip(s, name != "rstrip", name != "lstrip", cs);
  }
  if (name == "split" || name == "rsplit") {
    ArgBinder b(name, a, {"sep", "maxsplit"});
    const Value* sep = b.get(0);
    const std::string* sp = nullptr;
    if (sep && !sep->is_none()) sp = &need_string(sep, "separator");
    int64_t maxsplit = b.get(1) ? need_int(b.get(1), "maxsplit") : -1;
    if (name == "split" || maxsplit < 0) return to_array(py::split(s, sp, maxsplit));
    // rsplit with a limit: split everything, then re-join the leftmost pieces.
    auto parts = py::split(s, sp, -1);
    if (static_cast<int64_t>(parts.size()) <= maxsplit + 1) return to_array(parts);
    if (!sp) fail("NotImplementedError: rsplit(None, maxsplit) is not supported");
    size_t head = parts.size() - static_cast<size_t>(maxsplit);
    std::string joined = parts[0];
    for (size_t i = 1; i < head; ++i) joined += *sp + parts[i];
    std::vector<std::string> out{joined};
    out.insert(out.end(), parts.begin() + static_cast<std::ptrdiff_t>(head), parts.end());
    return to_array(out);
  }
  if (name == "splitlines") {
    ArgBinder b(name, a, {"keepends"});
    return to_array(splitlines(s, b.get_or(0, Value(false)).truthy()));
  }
  if (name == "startswith" || name == "endswith") {
    ArgBinder b(name, a, {"prefix"});
    if (!b.get(0)) fail("TypeError: {}() takes at least 1 argument (0 given)", name);
    return affix_match(s, *b.get(0), name == "startswith");
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    ArgBinder b(name, a, {});
    if (name == "upper") return py::upper(s);
    if (name == "lower") return py::lower(s);
    if (name == "title") return python_title(s);
    return py::capitalize(s);
  }
  if (name == "replace") {
    ArgBinder b(name, a, {"old", "new", "count"});
    int64_t count = b.get(2) ? need_int(b.get(2), "count") : -1;
    return py::replace(s, need_string(b.get(0), "replace() argument 1"),
                       need_string(b.get(1), "replace() argument 2"), count);
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    ArgBinder b(name, a, {"sub"});
    const std::string& sub = need_string(b.get(0), "substring");
    if (name == "count") {
      if (sub.empty()) return static_cast<int64_t>(py::length(s) + 1);
      int64_t n = 0;
      for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
      return n;
    }
    size_t p = (name == "find" || name == "index") ? s.find(sub) : s.rfind(sub);
    if (p == std::string::npos) {
      if (name == "index" || name == "rindex") fail("ValueError: substring not found");
      return static_cast<int64_t>(-1);
    }
    return cp_index(s, p);
  }
  if (name == "join") {
    ArgBinder b(name, a, {"iterable"});
    if (!b.get(0)) fail("TypeError: join() takes exactly one argument (0 given)");
    std::string out;
    bool first = true;
    for (const auto& item : iterate(*b.get(0))) {
      if (!first) out += s;
      first = false;
      out += need_string(&item, "sequence item");
    }
    return out;
  }
  if (name == "removeprefix" || name == "removesuffix") {
    ArgBinder b(name, a, {"affix"});
    const std::string& x = need_string(b.get(0), name + " arg");
    if (name == "removeprefix") return s.compare(0, x.size(), x) == 0 ? s.substr(x.size()) : s;
    if (x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0) {
      return s.substr(0, s.size() - x.size());
    }
    return s;
  }
  if (name == "format") return str_format(s, a);
  ArgBinder b(name, a, {});
  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") {
    return str_predicate(s, [](char32_t c) { return c >= '0' && c <= '9'; });
  }
  if (name == "isspace") return str_predicate(s, py::is_space);
  if (name == "isalpha") {
    return str_predicate(s, [](char32_t c) {
      std::string one;
      py::append_utf8(one, c);
      return (c < 0x80 && std::isalpha(static_cast<int>(c))) ||
             (c >= 0x80 && (py::upper(one) != one || py::lower(one) != one));
    });
  }
  if (name == "isalnum") {
    return str_predicate(s,
                         [](char32_t c) { return c < 0x80 && std::isalnum(static_cast<int>(c)); });
  }
  if (name == "islower") return py::upper(s) != s && py::lower(s) == s;
  if (name == "isupper") return py::lower(s) != s && py::upper(s) == s;
  fail("AttributeError: str method '{}' is not supported", name);
}

bool is_string_method(const std::string& n) {
  static const char* kNames[] = {
      "strip",      "lstrip",       "rstrip",       "split",   "rsplit",  "splitlines",
      "startswith", "endswith",     "upper",        "lower",   "title",   "capitalize",
      "replace",    "find",         "rfind",        "index",   "rindex",  "count",
      "join",       "removeprefix", "removesuffix", "format",  "isdigit", "isnumeric",
      "isdecimal",  "isspace",      "isalpha",      "isalnum", "islower", "isupper"};
  return std::find(std::begin(kNames), std::end(kNames), n) != std::end(kNames);
}

Value dict_method(const Value& self, const std::string& name, const CallArgs& a) {
  const Object& o = self.as_object();
  if (name == "get") {
    ArgBinder b(name, a, {"key", "default"});
    if (!b.get(0)) fail("TypeError: get expected at least 1 argument, got 0");
    const Value* v = b.get(0)->is_string() ? o.find(b.get(0)->as_string()) : nullptr;
    return v ? *v : b.get_or(1, Value::none());
  }
  ArgBinder b(name, a, {});
  if (name == "copy") return self;
  Array out;
  out.reserve(o.size());
  for (const auto& [k, v] : o.items()) {
    if (name == "items") {
      out.push_back(Value::tuple(Array{Value(k), v}));
    } else if (name == "keys") {
      out.emplace_back(k);
    } else {
      out.push_back(v);
    }
  }
  return out;
}

Value list_method(const Value& self, const std::string& name, const CallArgs& a) {
  ArgBinder b(name, a, {"value"});
  if (!b.get(0)) fail("TypeError: {}() takes exactly one argument (0 given)", name);
  const Array& arr = self.as_array();
  if (name == "count") {
    return static_cast<int64_t>(std::count_if(
        arr.begin(), arr.end(), [&](const Value& v) { return py::equals(v, *b.get(0)); }));
  }
  for (size_t i = 0; i < arr.size(); ++i) {
    if (py::equals(arr[i], *b.get(0))) return static_cast<int64_t>(i);
  }
  fail("ValueError: {} is not in list", py::repr(*b.get(0)));
}

Value bind_method(const Value& self, const std::string& name,
                  Value (*method)(const Value&, const std::string&, const CallArgs&)) {
  return Value::callable(name, [self, name, method](CallArgs& a) { return method(self, name, a); });
}

// Python index normalization; returns false when out of range.
bool normalize_index(int64_t& i, size_t size) {
  if (i < 0) i += static_cast<int64_t>(size);
  return i >= 0 && i < static_cast<int64_t>(size);
}

}  // namespace

Value get_attr(const Value& obj, const std::string& name) {
  switch (obj.kind()) {
    case Value::Kind::kUndefined:
      fail("UndefinedError: {}", obj.undefined_hint());
    case Value::Kind::kObject: {
      if (name == "items" || name == "keys" || name == "values" || name == "get" ||
          name == "copy") {
        return bind_method(obj, name, dict_method);
      }
      if (name == "pop" || name == "popitem" || name == "update" || name == "setdefault" ||
          name == "clear") {
        unsafe(obj, name);
      }
      const Value* v = obj.as_object().find(name);
      return v ? *v : missing_attr(obj, name);
    }
    case Value::Kind::kNamespace: {
      const Value* v = obj.as_namespace().attrs.find(name);
      return v ? *v : missing_attr(obj, name);
    }
    case Value::Kind::kString:
      if (is_string_method(name)) {
        return bind_method(obj, name,
                           [](const Value& self, const std::string& n, const CallArgs& a) {
                             return string_method(self.as_string(), n, a);
                           });
      }
      return missing_attr(obj, name);
    case Value::Kind::kArray:
      if (name == "index" || name == "count") return bind_method(obj, name, list_method);
      if (name == "append" || name == "extend" || name == "insert" || name == "pop" ||
          name == "remove" || name == "reverse" || name == "sort" || name == "clear") {
        unsafe(obj, name);
      }
      return missing_attr(obj, name);
    default:
      return missing_attr(obj, name);
  }
}

Value get_item(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Value::Kind::kUndefined:
      fail("UndefinedError: {}", obj.undefined_hint());
    case Value::Kind::kObject:
      if (key.is_string()) {
        const Value* v = obj.as_object().find(key.as_string());
        return v ? *v : get_attr(obj, key.as_string());
      }
      break;
    case Value::Kind::kArray:
      if (key.is_int() || key.is_bool()) {
        int64_t i = key.int_like();
        const Array& a = obj.as_array();
        if (normalize_index(i, a.size())) return a[static_cast<size_t>(i)];
        return Value::undefined(fmt::format("'list object' has no element {}", key.int_like()));
      }
      break;
    case Value::Kind::kString:
      if (key.is_int() || key.is_bool()) {
        std::u32string u = py::decode(obj.as_string());
        int64_t i = key.int_like();
        if (normalize_index(i, u.size())) return py::encode(u.substr(static_cast<size_t>(i), 1));
        return Value::undefined(fmt::format("'str object' has no element {}", key.int_like()));
      }
      break;
    default:
      break;
  }
  if (key.is_string()) return get_attr(obj, key.as_string());
  return Value::undefined(fmt::format("'{}' has no element {}", object_repr(obj), py::repr(key)));
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) fail("UndefinedError: {}", obj.undefined_hint());
  auto opt_int = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) {
      fail("TypeError: slice {} must be an integer or None, not {}", what, v.type_name());
    }
    return v.int_like();
  };
  int64_t st = opt_int(step, "step").value_or(1);
  if (st == 0) fail("ValueError: slice step cannot be zero");
  std::u32string chars;
  const bool is_str = obj.is_string();
  if (is_str) {
    chars = py::decode(obj.as_string());
  } else if (!obj.is_array()) {
    fail("TypeError: '{}' object is not subscriptable", obj.type_name());
  }
  const int64_t n = static_cast<int64_t>(is_str ? chars.size() : obj.as_array().size());
  auto clamp = [&](std::optional<int64_t> v, int64_t def) {
    if (!v) return def;
    int64_t x = *v;
    if (x < 0) x += n;
    if (st > 0) return std::clamp<int64_t>(x, 0, n);
    return std::clamp<int64_t>(x, -1, n - 1);
  };
  int64_t b = clamp(opt_int(start, "start"), st > 0 ? 0 : n - 1);
  int64_t e = clamp(opt_int(stop, "stop"), st > 0 ? n : -1);
  if (is_str) {
    std::u32string out;
    for (int64_t i = b; st > 0 ? i < e : i > e; i += st) out += chars[static_cast<size_t>(i)];
    return py::encode(out);
  }
  Array out;
  const Array& a = obj.as_array();
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) out.push_back(a[static_cast<size_t>(i)]);
  return out;
}

Array iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return {};
    case Value::Kind::kArray:
      return v.as_array();
    case Value::Kind::kObject: {
      Array keys;
      for (const auto& [k, e] : v.as_object().items()) keys.emplace_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      Array chars;
      for (char32_t c : py::decode(v.as_string()))
        chars.emplace_back(py::encode(std::u32string(1, c)));
      return chars;
    }
    default:
      fail("TypeError: '{}' object is not iterable", v.type_name());
  }
}

int64_t length_of(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kString:
      return static_cast<int64_t>(py::length(v.as_string()));
    case Value::Kind::kArray:
      return static_cast<int64_t>(v.as_array().size());
    case Value::Kind::kObject:
      return static_cast<int64_t>(v.as_object().size());
    default:
      fail("TypeError: object of type '{}' has no len()", v.type_name());
  }
}

std::string percent_format(const std::string& f, const Value& args) {
  // Python spreads only a tuple over the conversions; a list is one argument.
  Array items = args.is_tuple() ? args.as_array() : Array{args};
  size_t next = 0;
  auto take = [&]() -> const Value& {
    if (next >= items.size()) fail("TypeError: not enough arguments for format string");
    return items[next++];
  };
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out += f[i];
      continue;
    }
    if (++i >= f.size()) fail("ValueError: incomplete format");
    char c = f[i];
    if (c == '%') {
      out += '%';
    } else if (c == 's') {
      out += py::str(take());
    } else if (c == 'r') {
      out += py::repr(take());
    } else if (c == 'd' || c == 'i') {
      const Value& v = take();
      if (!v.is_number())
        fail("TypeError: %d format: a real number is required, not {}", v.type_name());
      out += std::to_string(v.is_float() ? static_cast<int64_t>(v.as_float()) : v.int_like());
    } else if (c == 'f') {
      const Value& v = take();
      if (!v.is_number()) fail("TypeError: must be real number, not {}", v.type_name());
      out += fmt::format("{:.6f}", v.number());
    } else if (c == 'x') {
      const Value& v = take();
      if (!v.is_int() && !v.is_bool()) fail("TypeError: %x format: an integer is required");
      out += fmt::format("{:x}", v.int_like());
    } else {
      fail("ValueError: unsupported format character '{}'", c);
    }
  }
  if (next < items.size()) {
    fail("TypeError: not all arguments converted during string formatting");
  }
  return out;
}

}  // namespace tessera::tmpl
