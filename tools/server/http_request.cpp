#include "http_request.h"

#include <fmt/format.h>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/verb.hpp>

namespace tessera::server {

namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;

namespace {

// Compares in time independent of where the first difference is, so that timing does not
// reveal how much of the API key a guess got right.
bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace

void configure_request_parser(HttpRequestParser& parser, const ServerOptions& options) {
  parser.body_limit(options.max_request_body);
  parser.header_limit(kMaxRequestHeaderBytes);
}

bool announced_body_over_limit(const HttpRequestParser& parser, const ServerOptions& options) {
  const auto length = parser.content_length();
  return length && *length > options.max_request_body;
}

bool expects_continue(const HttpRequest& request) {
  return beast::iequals(request[http::field::expect], "100-continue");
}

std::optional<ApiError> read_error_response(beast::error_code ec, const ServerOptions& options) {
  if (ec == http::error::body_limit) {
    return ApiError(413, fmt::format("the request body exceeds the limit of {} bytes "
                                     "(--max-request-body)",
                                     options.max_request_body));
  }
  // Beast's own errors, but for the two that mean the client stopped sending, are bytes that
  // are not HTTP/1.1; socket errors (another category) need no answer.
  if (ec && ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return bad_request("malformed HTTP request: " + ec.message());
  }
  return std::nullopt;
}

RouteMatch match_route(const HttpRequest& request, const ServerOptions& options) {
  RouteMatch match;
  match.path = std::string(request.target());
  match.path = match.path.substr(0, match.path.find('?'));
  // The key guards the API and the one route that changes the server's state.
  const bool guarded = match.path.starts_with("/v1/") || match.path == "/reset_prefix_cache";
  if (guarded && !options.api_key.empty()) {
    const std::string given(request[http::field::authorization]);
    if (!constant_time_equal(given, "Bearer " + options.api_key)) {
      throw ApiError(401, "Incorrect or missing API key: send 'Authorization: Bearer <key>'.", "",
                     "invalid_request_error", "invalid_api_key");
    }
  }
  struct Entry {
    const char* path;
    http::verb verb;
    Route route;
  };
  static constexpr Entry kRoutes[] = {
      {"/health", http::verb::get, Route::kHealth},
      {"/version", http::verb::get, Route::kVersion},
      {"/metrics", http::verb::get, Route::kMetrics},
      {"/server_info", http::verb::get, Route::kServerInfo},
      {"/v1/models", http::verb::get, Route::kModels},
      {"/v1/completions", http::verb::post, Route::kCompletions},
      {"/v1/chat/completions", http::verb::post, Route::kChatCompletions},
      {"/tokenize", http::verb::post, Route::kTokenize},
      {"/detokenize", http::verb::post, Route::kDetokenize},
      {"/reset_prefix_cache", http::verb::post, Route::kResetPrefixCache}};
  for (const auto& entry : kRoutes) {
    if (match.path != entry.path) continue;
    match.route = entry.route;
    if (request.method() != entry.verb)
      match.allowed_method = std::string(http::to_string(entry.verb));
    return match;
  }
  throw ApiError(404, "Not Found: no route " + match.path, "", "not_found_error");
}

ApiError method_not_allowed(const RouteMatch& match) {
  return ApiError(405, "Method Not Allowed: " + match.path + " accepts " + match.allowed_method, "",
                  "invalid_request_error");
}

json parse_request_body(const std::string& body) {
  if (body.empty()) throw bad_request("the request body is empty; send a JSON object");
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    throw bad_request(std::string("the request body is not valid JSON: ") + e.what());
  }
}

}  // namespace tessera::server
