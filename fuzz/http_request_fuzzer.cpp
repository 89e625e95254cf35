// The bytes a client sends on one connection, through the server's own HTTP code path
// (tools/server/http_request.h, as Session in http_session.cpp uses it): a Beast
// request_parser configured by configure_request_parser (body and header limits) reads one
// request after the other from the same buffer (keep-alive and pipelining, chunked bodies,
// Expect: 100-continue), with Beast's synchronous read_header/read in place of the session's
// asynchronous ones; the Content-Length check, the answer to a failed read, routing (API key,
// 404, 405) and the JSON body follow, and the routes that need no engine step go on into
// openai_api (/v1/completions and /v1/chat/completions up to the engine requests, /tokenize,
// /detokenize, /v1/models). /health, /version, /metrics and /server_info only route: their
// answers need a running engine.
//
// Input: one byte of connection settings, then what the client sends. The settings byte picks
// how many bytes each socket read returns (all, 1, 13 or 256: requests split at every
// boundary), whether an API key is required, and the body limit (1 KiB, or the default 4 MiB).
// Contract: every request is answered, with a 4xx naming the problem when refused (never a 5xx:
// the server would report an internal error), or the connection ends because the client's
// bytes ran out. Invariants: an accepted body is within the limit; an accepted generation has
// prompts x n choices; at most one request per byte sent (the reads make progress).
#include <algorithm>
#include <cstring>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>

#include "api_error.h"
#include "fuzz_support.h"
#include "http_request.h"
#include "openai_api.h"
#include "served_model.h"
#include "tessera/error.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using namespace tessera::server;
using tessera::fuzz::ServedModel;

// The client's side of the connection: a SyncReadStream over the input that returns at most
// `read_size` bytes per read, then end of stream.
class ClientBytes {
 public:
  ClientBytes(std::string_view bytes, size_t read_size) : bytes_(bytes), read_size_(read_size) {}

  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers, beast::error_code& ec) {
    ec = {};
    if (bytes_.empty()) {
      ec = net::error::eof;
      return 0;
    }
    const size_t n =
        net::buffer_copy(buffers, net::buffer(bytes_.data(), std::min(bytes_.size(), read_size_)));
    bytes_.remove_prefix(n);
    return n;
  }
  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers) {
    beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  std::string_view bytes_;
  size_t read_size_;
};

void check_refusal(const ApiError& error) {
  TSR_FUZZ_ASSERT(
      error.status() >= 400 && error.status() < 500,
      "a request answered with " + std::to_string(error.status()) + ": " + error.what());
  TSR_FUZZ_ASSERT(std::strlen(error.what()) > 0, "a refusal without a message");
}

// What Session::route does with a request, short of the engine.
void serve(const HttpRequest& request, const ServerOptions& options, const ServedModel& served) {
  const RouteMatch match = match_route(request, options);
  if (!match.allowed_method.empty()) return check_refusal(method_not_allowed(match));
  switch (match.route) {
    case Route::kHealth:
    case Route::kVersion:
    case Route::kMetrics:
    case Route::kServerInfo:
    case Route::kResetPrefixCache:  // reads no body
      return;
    case Route::kModels:
      (void)dump_json(models_body(served.limits, 0));
      return;
    case Route::kTokenize:
      (void)dump_json(tokenize_body(parse_request_body(request.body()), served.limits,
                                    served.prompts, *served.tokenizer));
      return;
    case Route::kDetokenize:
      (void)dump_json(
          detokenize_body(parse_request_body(request.body()), served.limits, *served.tokenizer));
      return;
    case Route::kCompletions:
    case Route::kChatCompletions: {
      const auto generation = parse_generation_request(parse_request_body(request.body()),
                                                       match.route == Route::kChatCompletions,
                                                       served.limits, served.prompts);
      TSR_FUZZ_ASSERT(
          !generation.choices.empty() && generation.choices.size() % generation.num_prompts == 0,
          "choices != prompts x n");
      return;
    }
  }
  tessera::fuzz::fail("a route without a handler");
}

// Session::handle: every exception a handler throws becomes the response's status.
void handle(const HttpRequest& request, const ServerOptions& options, const ServedModel& served) {
  try {
    serve(request, options, served);
  } catch (const ApiError& e) {
    check_refusal(e);
  } catch (const tessera::Error& e) {
    check_refusal(api_error_of(e));
  }
}

ServerOptions connection_options(uint8_t settings) {
  ServerOptions options;
  if (settings & 4) options.api_key = "fuzz-key";
  if (settings & 8) options.max_request_body = 1024;
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  (void)tessera::fuzz::served_model();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const ServedModel& served = tessera::fuzz::served_model();
  const ServerOptions options = connection_options(data[0]);
  static constexpr size_t kReadSizes[] = {size_t{1} << 30, 1, 13, 256};
  const auto sent = tessera::fuzz::as_text(data + 1, size - 1);
  ClientBytes client(sent, kReadSizes[data[0] % 4]);
  beast::flat_buffer buffer;
  size_t requests = 0;
  // Session::do_read and on_read, one request after the other while the client keeps the
  // connection alive.
  for (bool keep_alive = true; keep_alive;) {
    HttpRequestParser parser;
    configure_request_parser(parser, options);
    beast::error_code ec;
    http::read_header(client, buffer, parser, ec);
    if (!ec && announced_body_over_limit(parser, options)) ec = http::error::body_limit;
    if (!ec) http::read(client, buffer, parser, ec);
    if (ec) {
      // Answered (413, 400) or not (the client stopped sending); the connection closes.
      if (const auto error = read_error_response(ec, options)) check_refusal(*error);
      break;
    }
    ++requests;
    TSR_FUZZ_ASSERT(requests <= sent.size(), "more requests than bytes sent");
    const HttpRequest& request = parser.get();
    TSR_FUZZ_ASSERT(request.body().size() <= options.max_request_body,
                    "a body over the limit accepted");
    keep_alive = request.keep_alive();
    handle(request, options, served);
  }
  return 0;
}
