// Value: the dynamic value of the chat-template interpreter, modelled on the Python objects
// jinja2 works with (None, bool, int, float, str, list, dict, namespace, callables) plus
// jinja2's default Undefined. Written by hand: no packaged C++ Jinja library exists.
//
// Invariants: strings are UTF-8; arrays and objects are immutable once built and shared by
// pointer (copying a Value is cheap); objects keep insertion order, as Python dicts do, so
// tojson matches json.dumps byte for byte. Namespaces are the one mutable, shared kind.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::tmpl {

class Value;

using Array = std::vector<Value>;

// Insertion-ordered string-keyed map (a Python dict with str keys).
class Object {
 public:
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value value);
  // Defined below Value: clang (unlike GCC) instantiates the vector here, where Value is
  // still incomplete.
  size_t size() const;
  bool empty() const;
  const std::vector<std::pair<std::string, Value>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, Value>> items_;
  std::unordered_map<std::string, size_t> index_;
};

struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
};

// A builtin function, a bound method or a macro. Callables never outlive the render that made
// them, so they may capture pointers into the interpreter.
struct Callable {
  std::string name;
  std::function<Value(CallArgs&)> fn;
};

// jinja2's namespace(): the only way a template can mutate state across loop scopes.
struct Namespace {
  Object attrs;
};

struct UndefinedValue {
  std::string hint;  // the UndefinedError message if this value is used in a failing way
};

class Value {
 public:
  enum class Kind {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kArray,
    kObject,
    kNamespace,
    kCallable
  };

  Value() = default;
  Value(bool b) : data_(b) {}
  Value(int64_t i) : data_(i) {}
  Value(int i) : data_(static_cast<int64_t>(i)) {}
  Value(double d) : data_(d) {}
  Value(std::string s) : data_(std::move(s)) {}
  Value(const char* s) : data_(std::string(s)) {}
  Value(Array a) : data_(std::make_shared<const Array>(std::move(a))) {}
  Value(Object o) : data_(std::make_shared<const Object>(std::move(o))) {}
  Value(std::shared_ptr<Namespace> ns) : data_(std::move(ns)) {}
  Value(std::shared_ptr<const Callable> c) : data_(std::move(c)) {}

  // A Python tuple: an immutable list that prints with parentheses and never equals a list.
  static Value tuple(Array a) {
    Value v(std::move(a));
    v.tuple_ = true;
    return v;
  }
  static Value undefined(std::string hint) { return Value(UndefinedValue{std::move(hint)}); }
  static Value none() { return Value(nullptr); }
  static Value callable(std::string name, std::function<Value(CallArgs&)> fn);

  Kind kind() const { return static_cast<Kind>(data_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  // Python's numbers include bool.
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_array() const { return kind() == Kind::kArray; }
  bool is_tuple() const { return tuple_; }
  bool is_object() const { return kind() == Kind::kObject; }
  bool is_namespace() const { return kind() == Kind::kNamespace; }
  bool is_callable() const { return kind() == Kind::kCallable; }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const { return std::get<int64_t>(data_); }
  double as_float() const { return std::get<double>(data_); }
  const std::string& as_string() const { return std::get<std::string>(data_); }
  const Array& as_array() const { return *std::get<std::shared_ptr<const Array>>(data_); }
  const Object& as_object() const { return *std::get<std::shared_ptr<const Object>>(data_); }
  Namespace& as_namespace() const { return *std::get<std::shared_ptr<Namespace>>(data_); }
  const Callable& as_callable() const { return *std::get<std::shared_ptr<const Callable>>(data_); }
  const std::string& undefined_hint() const { return std::get<UndefinedValue>(data_).hint; }

  // bool/int as an int64 (Python treats True as 1); only for is_int() || is_bool().
  int64_t int_like() const { return is_bool() ? (as_bool() ? 1 : 0) : as_int(); }
  // Any number as a double.
  double number() const { return is_float() ? as_float() : static_cast<double>(int_like()); }

  // Python truthiness.
  bool truthy() const;
  // Python type name, for error messages ("str", "dict", "NoneType" ...).
  std::string type_name() const;

  static Value from_json(const nlohmann::ordered_json& j);
  static Value from_json(const nlohmann::json& j);

 private:
  explicit Value(UndefinedValue u) : data_(std::move(u)) {}
  explicit Value(std::nullptr_t) : data_(nullptr) {}

  std::variant<UndefinedValue, std::nullptr_t, bool, int64_t, double, std::string,
               std::shared_ptr<const Array>, std::shared_ptr<const Object>,
               std::shared_ptr<Namespace>, std::shared_ptr<const Callable>>
      data_;
  bool tuple_ = false;
};

inline size_t Object::size() const {
  return items_.size();
}
inline bool Object::empty() const {
  return items_.empty();
}

}  // namespace tessera::tmpl
