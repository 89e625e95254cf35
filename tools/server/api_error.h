// ApiError: a request the server refuses, carried to the HTTP layer as an OpenAI-style error
// object {"error": {"message", "type", "param", "code"}} with its HTTP status. Everything a
// handler throws is turned into one of these (unexpected exceptions into a 500), so a bad
// request never ends a connection or the process.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

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

}  // namespace tessera::server
