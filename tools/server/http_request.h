// The HTTP side of a request before the engine sees it: how the server configures Beast's
// request parser (body and header limits), what a failed read is answered with (413, 400, or
// nothing when the client just went away), which route a request takes (401, 404, 405
// otherwise) and how its JSON body is parsed. Pure functions without a socket, shared by
// Session (http_session.cpp) and fuzz/http_request_fuzzer.cpp, so that the fuzzer runs the
// bytes a client sends through the server's own code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>

#include "api_error.h"
#include "server.h"

namespace tessera::server {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpRequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// Request line and headers together; a longer header section is answered with 400.
inline constexpr uint32_t kMaxRequestHeaderBytes = 64 * 1024;

// A fresh parser for the next request of a connection, with the server's limits.
void configure_request_parser(HttpRequestParser& parser, const ServerOptions& options);

// After the header: whether Content-Length announces a body over --max-request-body (the
// server answers 413 without reading it).
bool announced_body_over_limit(const HttpRequestParser& parser, const ServerOptions& options);

// "Expect: 100-continue": the client waits for a 100 before sending the body.
bool expects_continue(const HttpRequest& request);

// What a failed read is answered with before the connection closes: 413 for a body over the
// limit, 400 for bytes that are not HTTP/1.1; nullopt when the client went away (end of
// stream, a message cut short, a network error), which needs no answer.
std::optional<ApiError> read_error_response(boost::beast::error_code ec,
                                            const ServerOptions& options);

enum class Route {
  kHealth,
  kVersion,
  kMetrics,
  kServerInfo,
  kModels,
  kCompletions,
  kChatCompletions,
  kTokenize,
  kDetokenize,
  kResetPrefixCache
};

struct RouteMatch {
  Route route = Route::kHealth;
  std::string path;            // the target without its query
  std::string allowed_method;  // non-empty: the method is not the route's; answer 405
};

// The route of a request. Throws ApiError 401 (a /v1/ route without the API key, when one is
// set) or 404 (no such route); a wrong method comes back as allowed_method, for the 405 with
// its Allow header (method_not_allowed).
RouteMatch match_route(const HttpRequest& request, const ServerOptions& options);
ApiError method_not_allowed(const RouteMatch& match);

// A POST body as JSON; an empty or malformed body is a 400.
nlohmann::json parse_request_body(const std::string& body);

}  // namespace tessera::server
