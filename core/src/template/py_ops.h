// Python semantics the chat-template interpreter must reproduce byte for byte: str() and
// repr() of values, float repr, ==/< between values, `in`, json.dumps, and the str methods
// templates call (strip, split, upper ...) on UTF-8 text by code point. Written by hand
// because jinja2 output is defined by these Python behaviours and no C++ package mirrors them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "template/value.h"

namespace tessera::tmpl::py {

// UTF-8 <-> code points. Invalid bytes decode to U+FFFD.
std::u32string decode(std::string_view s);
std::string encode(std::u32string_view s);
void append_utf8(std::string& out, char32_t c);
size_t length(std::string_view s);

// str.isspace() for one code point.
bool is_space(char32_t c);
// str.strip/lstrip/rstrip; chars == nullptr strips whitespace.
std::string strip(std::string_view s, bool left, bool right, const std::string* chars = nullptr);
// str.split(sep, maxsplit); sep == nullptr splits on runs of whitespace.
std::vector<std::string> split(std::string_view s, const std::string* sep, int64_t maxsplit = -1);
std::string replace(std::string_view s, std::string_view old, std::string_view with,
                    int64_t count = -1);
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);  // str.capitalize()
std::string title(std::string_view s);       // jinja2's title filter (not str.title())

std::string float_repr(double d);
std::string str(const Value& v);   // str(v), what {{ v }} prints
std::string repr(const Value& v);  // repr(v), used inside containers

bool equals(const Value& a, const Value& b);
// Python ordering; throws TemplateError for unorderable types. op names the operator for the
// message ("<", ">=" ...).
int compare(const Value& a, const Value& b, std::string_view op);
// `item in container`.
bool contains(const Value& container, const Value& item);

struct JsonOptions {
  std::optional<std::string> indent;  // None: single line
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};
// json.dumps(v, ...); throws TemplateError for values JSON cannot hold (Undefined, callables).
std::string to_json(const Value& v, const JsonOptions& options);

}  // namespace tessera::tmpl::py
