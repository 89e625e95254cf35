// Reading and releasing plugin errors (see plugin_error.h).
#include "runtime/plugin_error.h"

#include <fmt/format.h>

#include "tessera/plugins.h"

namespace tessera::runtime {

const char* error_code_name(tsr_error_code code) {
  switch (code) {
    case TSR_ERROR_CODE_OK:
      return "ok";
    case TSR_ERROR_CODE_INVALID_ARGUMENT:
      return "invalid argument";
    case TSR_ERROR_CODE_UNIMPLEMENTED:
      return "unimplemented";
    case TSR_ERROR_CODE_RESOURCE_EXHAUSTED:
      return "resource exhausted";
    case TSR_ERROR_CODE_UNAVAILABLE:
      return "unavailable";
    case TSR_ERROR_CODE_INTERNAL:
      return "internal";
    case TSR_ERROR_CODE_CANCELLED:
      return "cancelled";
    case TSR_ERROR_CODE_NOT_FOUND:
      return "not found";
    case TSR_ERROR_CODE_FAILED_PRECONDITION:
      return "failed precondition";
  }
  return "unknown error code";
}

std::string take_error_message(tsr_error* error) {
  if (error == nullptr) return {};
  std::string text;
  const bool has_code = TSR_STRUCT_HAS(error, tsr_error, code);
  const bool has_message = TSR_STRUCT_HAS(error, tsr_error, message);
  text = has_code ? error_code_name(error->code) : "error";
  if (has_message && error->message != nullptr && error->message[0] != '\0') {
    text += ": ";
    // One line: a multi-line message would break listings and the CLI's one-line errors.
    for (const char* c = error->message; *c != '\0'; ++c)
      text += (*c == '\n' || *c == '\r') ? ' ' : *c;
  }
  if (TSR_STRUCT_HAS(error, tsr_error, destroy) && error->destroy != nullptr) error->destroy(error);
  return text;
}

ErrorKind error_kind_for(tsr_error_code code) {
  switch (code) {
    case TSR_ERROR_CODE_INVALID_ARGUMENT:
      return ErrorKind::kInvalidArgument;
    case TSR_ERROR_CODE_NOT_FOUND:
      return ErrorKind::kNotFound;
    case TSR_ERROR_CODE_UNAVAILABLE:
      return ErrorKind::kUnavailable;
    case TSR_ERROR_CODE_RESOURCE_EXHAUSTED:
      return ErrorKind::kResourceExhausted;
    default:
      return ErrorKind::kInternal;
  }
}

void throw_if_error(tsr_error* error, std::string_view plugin, std::string_view call) {
  if (error == nullptr) return;
  const tsr_error_code code =
      TSR_STRUCT_HAS(error, tsr_error, code) ? error->code : TSR_ERROR_CODE_INTERNAL;
  const std::string message = take_error_message(error);
  throw Error(fmt::format("{}: {}: {}", plugin, call, message), error_kind_for(code));
}

}  // namespace tessera::runtime
