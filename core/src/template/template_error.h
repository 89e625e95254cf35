// Internal error type of the chat-template interpreter: a message plus the template position
// it belongs to. The public API (tessera/chat_template.h) turns it into tessera::Error with
// "line L, column C" in the text; it never escapes the library as this type.
#pragma once

#include <fmt/format.h>

#include <exception>
#include <string>
#include <utility>

namespace tessera::tmpl {

// 1-based line and column in the template source; line 0 means "not known yet".
struct Pos {
  int line = 0;
  int col = 0;
};

class TemplateError : public std::exception {
 public:
  explicit TemplateError(std::string message, Pos pos = {})
      : message_(std::move(message)), pos_(pos) {}
  const char* what() const noexcept override { return message_.c_str(); }
  const std::string& message() const { return message_; }
  Pos pos() const { return pos_; }
  bool has_pos() const { return pos_.line > 0; }
  void set_pos(Pos pos) { pos_ = pos; }

 private:
  std::string message_;
  Pos pos_;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw TemplateError(fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void fail_at(Pos pos, fmt::format_string<Args...> f, Args&&... args) {
  throw TemplateError(fmt::format(f, std::forward<Args>(args)...), pos);
}

}  // namespace tessera::tmpl
