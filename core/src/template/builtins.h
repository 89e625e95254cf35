// Builtins of the chat-template interpreter: jinja2's filters and tests, attribute and item
// access with Python's methods on str / dict / list (the sandbox's immutable subset), and the
// argument binding they share. Written by hand: no packaged C++ Jinja implementation exists.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "template/value.h"

namespace tessera::tmpl {

// Binds positional and keyword arguments to a builtin's parameter names, Python style.
class ArgBinder {
 public:
  // Throws TypeError if there are more positional arguments than names or an unknown keyword.
  ArgBinder(std::string_view function, const CallArgs& args,
            std::initializer_list<std::string_view> names);
  // The argument for parameter i (by position or by name), or nullptr if not given.
  const Value* get(size_t i) const { return i < bound_.size() ? bound_[i] : nullptr; }
  Value get_or(size_t i, Value fallback) const { return get(i) ? *get(i) : std::move(fallback); }
  // Positional arguments beyond the named ones (for *args builtins).
  const std::vector<Value>& rest() const { return rest_; }

 private:
  std::vector<const Value*> bound_;
  std::vector<Value> rest_;
};

bool has_filter(std::string_view name);
bool has_test(std::string_view name);
// operand | name(args); throws TemplateError.
Value apply_filter(std::string_view name, const Value& operand, const CallArgs& args);
// operand is name(args).
bool apply_test(std::string_view name, const Value& operand, const CallArgs& args);

// obj.name: a dict key, a namespace attribute, or a bound str/dict/list method; Undefined if
// absent. Throws UndefinedError when obj itself is undefined.
Value get_attr(const Value& obj, const std::string& name);
// obj[key]: jinja2's getitem (falls back to attributes for string keys).
Value get_item(const Value& obj, const Value& key);
// obj[start:stop:step] with Python slice semantics, on lists and strings.
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

// Items a for loop (or list()) iterates: list items, dict keys, string characters.
Array iterate(const Value& v);
// len(v), or a TypeError.
int64_t length_of(const Value& v);
// printf-style "fmt % args" as Python does it for %s %r %d %i %f %x %%.
std::string percent_format(const std::string& fmt, const Value& args);

}  // namespace tessera::tmpl
