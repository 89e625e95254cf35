// tessera::Error, the one exception type the core throws: a message for people, a kind for
// programs (the CLI's exit status, the server's HTTP status) and, for a bad request, the
// request field at fault (the server's OpenAI `param`). Internal invariant failures are
// kInternal, so that a bug is never reported as the user's mistake.
#pragma once

#include <stdexcept>
#include <string>

namespace tessera {

enum class ErrorKind { kInvalidArgument, kNotFound, kUnavailable, kResourceExhausted, kInternal };

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorKind kind = ErrorKind::kInvalidArgument,
                 std::string field = "")
      : std::runtime_error(message), kind_(kind), field_(std::move(field)) {}
  ErrorKind kind() const noexcept { return kind_; }
  // The request field a kInvalidArgument error is about ("max_tokens", "prompt", …); "" when
  // the error is not about one field.
  const std::string& field() const noexcept { return field_; }

 private:
  ErrorKind kind_;
  std::string field_;
};

}  // namespace tessera
