// ApiError: a request the server refuses, carried to the HTTP layer as an OpenAI-style error
// object {"error": {"message", "type", "param", "code"}} with its HTTP status. Everything a
// handler throws is turned into one of these (unexpected exceptions into a 500), so a bad
// request never ends a connection or the process.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "tessera/error.h"

namespace tessera::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = "",
           std::string type = "invalid_request_error", std::string code = "")
      : std::runtime_error(message),
        status_(status),
        param_(std::move(param)),
        type_(std::move(type)),
        code_(std::move(code)) {}

  int status() const { return status_; }

  nlohmann::json to_json() const {
    nlohmann::json error = {
        {"message", what()},
        {"type", type_},
        {"param", param_.empty() ? nlohmann::json() : nlohmann::json(param_)},
        {"code", code_.empty() ? nlohmann::json(status_) : nlohmann::json(code_)}};
    return {{"error", error}};
  }

 private:
  int status_;
  std::string param_;
  std::string type_;
  std::string code_;
};

inline ApiError bad_request(std::string message, std::string param = "") {
  return ApiError(400, std::move(message), std::move(param));
}

// A core error as the API reports it: its kind decides the status, its field the param.
inline ApiError api_error_of(const Error& error, const std::string& param) {
  switch (error.kind()) {
    case ErrorKind::kInvalidArgument:
      return ApiError(400, error.what(), param);
    case ErrorKind::kNotFound:
      return ApiError(404, error.what(), param, "not_found_error");
    case ErrorKind::kUnavailable:
    case ErrorKind::kResourceExhausted:
      return ApiError(503, error.what(), "", "service_unavailable");
    case ErrorKind::kInternal:
      break;
  }
  return ApiError(500, std::string("internal error: ") + error.what(), "", "internal_error");
}
inline ApiError api_error_of(const Error& error) {
  return api_error_of(error, error.field());
}

}  // namespace tessera::server
