// TSR_CHECK: the core's error convention. Inside the core, a violated expectation throws
// tessera::Error with a formatted message and the source location; tools catch it at the
// top and print one clear line. A user's bad input must never abort the process.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace tessera {

// Kinds of failure the CLI and server map to exit codes / HTTP statuses.
enum class ErrorKind { kInvalidArgument, kNotFound, kUnavailable, kResourceExhausted, kInternal };

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorKind kind = ErrorKind::kInvalidArgument)
      : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace tessera

#define TSR_CHECK(cond, ...)                                         \
  do {                                                               \
    if (!(cond)) throw ::tessera::Error(::fmt::format(__VA_ARGS__)); \
  } while (0)

#define TSR_CHECK_KIND(cond, kind, ...)                                      \
  do {                                                                       \
    if (!(cond)) throw ::tessera::Error(::fmt::format(__VA_ARGS__), (kind)); \
  } while (0)
