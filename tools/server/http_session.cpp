#include "http_session.h"

#include <array>
#include <chrono>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "api_error.h"
#include "tessera/check.h"
#include "tessera/log.h"
#include "tessera/metrics.h"
#include "http_request.h"
#include "prometheus.h"
#include "server_info.h"
#include "tessera/tokenizer.h"

namespace tessera::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using nlohmann::json;

namespace {

constexpr auto kWriteTimeout = std::chrono::seconds(60);
constexpr size_t kMaxPendingPipelined = size_t{1} << 20;
constexpr auto kLingerTimeout = std::chrono::seconds(5);
constexpr size_t kMaxLingerBytes = size_t{64} << 20;

std::string chunk(const std::string& data) {
  if (data.empty()) return "";
  return fmt::format("{:x}\r\n", data.size()) + data + "\r\n";
}

// Waits on a generation's channels and posts every output to the session's strand. One
// thread per generation; several channels (n > 1, several prompts) are polled in turn.
void start_relay(ServerState& state, std::vector<std::shared_ptr<OutputChannel>> channels,
                 std::function<void(size_t, RequestOutput)> deliver) {
  {
    std::lock_guard lock(state.relay_mutex);
    ++state.relays;
  }
  std::thread([&state, channels = std::move(channels), deliver = std::move(deliver)] {
    if (channels.size() == 1) {
      while (auto out = channels[0]->next()) deliver(0, std::move(*out));
    } else {
      std::vector<bool> done(channels.size(), false);
      size_t left = channels.size();
      while (left > 0) {
        for (size_t i = 0; i < channels.size(); ++i) {
          if (done[i]) continue;
          while (auto out = channels[i]->next_for(std::chrono::milliseconds(1))) {
            const bool finished = out->finished;
            deliver(i, std::move(*out));
            if (finished) {
              done[i] = true;
              --left;
              break;
            }
          }
        }
      }
    }
    {
      std::lock_guard lock(state.relay_mutex);
      --state.relays;
    }
    state.relay_idle.notify_all();
  }).detach();
}

}  // namespace

struct Session::Generation {
  Generation(GenerationRequest r, const tokenizer::Tokenizer& tokenizer)
      : request(std::move(r)), formatter(request, tokenizer) {}
  GenerationRequest request;
  ResponseFormatter formatter;
  std::vector<std::string> engine_ids;
  bool aborted = false;
};

Session::Session(net::ip::tcp::socket socket, ServerState& state)
    : stream_(std::move(socket)), state_(state) {
  ++state_.live_sessions;
}

Session::~Session() {
  --state_.live_sessions;
}

void Session::start() {
  net::dispatch(stream_.get_executor(),
                beast::bind_front_handler(&Session::do_read, shared_from_this()));
}

void Session::close_if_idle() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    self->keep_alive_ = false;
    if (self->reading_) self->close();
  });
}

void Session::do_read() {
  if (closed_) return;
  reading_ = true;
  parser_.emplace();
  configure_request_parser(*parser_, state_.options);
  stream_.expires_after(
      std::chrono::milliseconds(static_cast<int64_t>(state_.options.keep_alive_timeout_s * 1000)));
  http::async_read_header(
      stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
        if (ec) return self->on_read(ec, 0);
        if (announced_body_over_limit(*self->parser_, self->state_.options)) {
          return self->on_read(http::error::body_limit, 0);
        }
        auto read_body = [self] {
          http::async_read(self->stream_, self->buffer_, *self->parser_,
                           beast::bind_front_handler(&Session::on_read, self));
        };
        if (expects_continue(self->parser_->get())) {
          auto reply = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
          net::async_write(self->stream_, net::buffer(*reply),
                           [self, reply, read_body](beast::error_code wec, size_t) {
                             if (wec) return self->on_read(wec, 0);
                             read_body();
                           });
          return;
        }
        read_body();
      });
}

void Session::on_read(beast::error_code ec, size_t) {
  reading_ = false;
  stream_.expires_never();
  if (closed_) return;
  if (const auto error = read_error_response(ec, state_.options)) {
    keep_alive_ = false;
    ++state_.http_requests;
    respond_error(error->status(), error->to_json());
    return;
  }
  if (ec) return close();
  handle(parser_->get());
}

void Session::handle(Request& request) {
  ++state_.http_requests;
  keep_alive_ = request.keep_alive() && !state_.shutting_down;
  try {
    route(request);
  } catch (const ApiError& e) {
    respond_error(e.status(), e.to_json());
  } catch (const Error& e) {
    const ApiError api = api_error_of(e);
    if (api.status() >= 500) {
      TSR_LOG_ERROR("error on {}: {}", std::string(request.target()), e.what());
    }
    respond_error(api.status(), api.to_json());
  } catch (const std::exception& e) {
    TSR_LOG_ERROR("internal error on {}: {}", std::string(request.target()), e.what());
    respond_error(
        500,
        ApiError(500, std::string("internal error: ") + e.what(), "", "internal_error").to_json());
  }
}

void Session::route(Request& request) {
  const RouteMatch match = match_route(request, state_.options);
  if (!match.allowed_method.empty()) {
    respond(405, dump_json(method_not_allowed(match).to_json()), "application/json",
            match.allowed_method);
    return;
  }
  auto& engine = state_.engine;
  const Route route = match.route;
  if (route == Route::kHealth) {
    respond(200, "", "text/plain");
  } else if (route == Route::kVersion) {
    respond(200, dump_json({{"version", state_.options.version}}), "application/json");
  } else if (route == Route::kMetrics) {
    MetricsExtras extras;
    extras.blocks_in_use = engine.blocks_in_use();
    extras.block_size = engine.config().block_size;
    extras.kv_block_bytes = engine.memory_plan().kv_block_bytes;
    extras.http_requests_total = state_.http_requests;
    extras.http_errors_total = state_.http_errors;
    if (const auto memory = engine.device_memory();
        memory && memory->total_bytes >= memory->free_bytes) {
      extras.has_device_memory = true;
      extras.device_memory_free_bytes = memory->free_bytes;
      extras.device_memory_total_bytes = memory->total_bytes;
    }
    respond(200,
            prometheus_text(engine.metrics(), extras, state_.limits.served_model_names.front()),
            "text/plain; version=0.0.4; charset=utf-8");
  } else if (route == Route::kServerInfo) {
    respond(200, dump_json(server_info_body(engine, state_.options)), "application/json");
  } else if (route == Route::kResetPrefixCache) {
    // Waits for the engine's next step boundary (one step at most): an operator's and a
    // benchmark's route, called between runs, not on the serving path.
    const int64_t dropped = engine.reset_prefix_cache();
    respond(200, dump_json({{"reset", true}, {"dropped_blocks", dropped}}), "application/json");
  } else if (route == Route::kModels) {
    respond(200, dump_json(models_body(state_.limits, state_.started_at)), "application/json");
  } else if (route == Route::kTokenize) {
    respond(200,
            dump_json(tokenize_body(parse_request_body(request.body()), state_.limits,
                                    *state_.prompts, engine.tokenizer())),
            "application/json");
  } else if (route == Route::kDetokenize) {
    respond(200,
            dump_json(detokenize_body(parse_request_body(request.body()), state_.limits,
                                      engine.tokenizer())),
            "application/json");
  } else {
    start_generation(request, route == Route::kChatCompletions);
  }
}

void Session::respond(int status, const std::string& body, const std::string& content_type,
                      const std::string& allow) {
  if (status >= 400) ++state_.http_errors;
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::server, "tessera");
  res.set(http::field::content_type, content_type);
  if (!allow.empty()) res.set(http::field::allow, allow);
  res.keep_alive(keep_alive_);
  res.body() = body;
  res.prepare_payload();
  std::ostringstream out;
  out << res;
  response_done_ = true;
  queue_write(out.str());
}

void Session::respond_error(int status, const json& error) {
  respond(status, dump_json(error), "application/json");
}

void Session::start_generation(Request& request, bool chat) {
  const json body = parse_request_body(request.body());
  auto generation = std::make_unique<Generation>(
      parse_generation_request(body, chat, state_.limits, *state_.prompts),
      state_.engine.tokenizer());
  std::vector<std::shared_ptr<OutputChannel>> channels;
  {
    std::lock_guard lock(state_.admission_mutex);
    if (state_.engine_stopped) {
      throw ApiError(503, "the server is shutting down", "", "service_unavailable");
    }
    const auto& choices = generation->request.choices;
    for (size_t i = 0; i < choices.size(); ++i) {
      const std::string id = generation->request.id + "-" + std::to_string(i);
      try {
        channels.push_back(state_.engine.add_request(id, choices[i].prompt, choices[i].params));
      } catch (const Error& e) {
        for (const auto& added : generation->engine_ids) state_.engine.abort(added);
        throw api_error_of(e);
      }
      generation->engine_ids.push_back(id);
    }
  }
  generation_ = std::move(generation);
  if (generation_->request.stream) {
    http::response<http::empty_body> res{http::status::ok, 11};
    res.set(http::field::server, "tessera");
    res.set(http::field::content_type, "text/event-stream; charset=utf-8");
    res.set(http::field::cache_control, "no-cache");
    res.keep_alive(keep_alive_);
    res.chunked(true);
    std::ostringstream header;
    header << res.base();
    queue_write(header.str() + chunk(generation_->formatter.stream_start()));
  }
  watch_disconnect();
  auto self = shared_from_this();
  start_relay(state_, std::move(channels), [self](size_t choice, RequestOutput output) {
    auto shared = std::make_shared<RequestOutput>(std::move(output));
    net::post(self->stream_.get_executor(),
              [self, choice, shared] { self->on_output(choice, std::move(*shared)); });
  });
}

void Session::on_output(size_t choice, RequestOutput output) {
  if (!generation_) return;
  auto& g = *generation_;
  if (!g.request.stream) {
    g.formatter.add_output(choice, output);
    if (!g.formatter.finished()) return;
    if (peer_gone_) {
      response_done_ = true;
      after_response();
    } else if (!g.formatter.error().empty()) {
      respond_error(500, ApiError(500, g.formatter.error(), "", "internal_error").to_json());
    } else {
      respond(200, dump_json(g.formatter.body()), "application/json");
    }
    return;
  }
  if (peer_gone_) {
    g.formatter.add_output(choice, output);
  } else {
    queue_write(chunk(g.formatter.stream_output(choice, output)));
  }
  if (!g.formatter.finished()) return;
  if (!peer_gone_) queue_write(chunk(g.formatter.stream_end()) + "0\r\n\r\n");
  response_done_ = true;
  after_response();
}

void Session::abort_generation(bool disconnected) {
  if (!generation_ || generation_->aborted || generation_->formatter.finished()) return;
  generation_->aborted = true;
  for (const auto& id : generation_->engine_ids) state_.engine.abort(id, disconnected);
  TSR_LOG_DEBUG("{}: client gone, aborting {} engine request(s)", generation_->request.id,
                generation_->engine_ids.size());
}

void Session::watch_disconnect() {
  if (watching_ || closed_) return;
  watching_ = true;
  stream_.socket().async_read_some(
      buffer_.prepare(4096), beast::bind_front_handler(&Session::on_watch, shared_from_this()));
}

void Session::on_watch(beast::error_code ec, size_t bytes) {
  watching_ = false;
  if (!ec) buffer_.commit(bytes);
  if (response_done_) return after_response();
  if (!ec) {
    // A pipelined request: keep it for the next read, keep watching (bounded).
    if (buffer_.size() < kMaxPendingPipelined) watch_disconnect();
    return;
  }
  if (ec == net::error::operation_aborted) return;
  peer_gone_ = true;
  abort_generation(true);
}

void Session::queue_write(std::string bytes) {
  if (bytes.empty() || peer_gone_ || closed_) {
    if (!writing_) after_response();
    return;
  }
  writes_.push_back(std::move(bytes));
  if (!writing_) do_write();
}

void Session::do_write() {
  writing_ = true;
  stream_.expires_after(kWriteTimeout);
  net::async_write(stream_, net::buffer(writes_.front()),
                   beast::bind_front_handler(&Session::on_write, shared_from_this()));
}

void Session::on_write(beast::error_code ec, size_t) {
  writing_ = false;
  stream_.expires_never();
  if (ec) {
    writes_.clear();
    peer_gone_ = true;
    abort_generation(true);
    after_response();
    return;
  }
  writes_.pop_front();
  if (!writes_.empty()) return do_write();
  after_response();
}

// Runs whenever a write or the disconnect watch completes; moves on once the response is
// fully written (or the peer is gone) and the watch has stopped.
void Session::after_response() {
  if (!response_done_ || writing_ || !writes_.empty()) return;
  if (watching_) {
    beast::error_code ignored;
    stream_.socket().cancel(ignored);  // on_watch comes back here
    return;
  }
  if (generation_ && !generation_->formatter.finished()) return;
  generation_.reset();
  response_done_ = false;
  if (peer_gone_ || !keep_alive_ || state_.shutting_down) return close();
  do_read();
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  if (peer_gone_) {
    stream_.socket().close(ignored);
    return;
  }
  // Lingering close: a client still sending (a body over the limit) would otherwise get a
  // reset instead of our response. Drain what it sends, bounded in bytes and time.
  stream_.expires_after(kLingerTimeout);
  drain(0);
}

void Session::drain(size_t drained) {
  auto scratch = std::make_shared<std::array<char, 16384>>();
  stream_.async_read_some(net::buffer(*scratch), [self = shared_from_this(), scratch, drained](
                                                     beast::error_code ec, size_t bytes) {
    if (ec || drained + bytes > kMaxLingerBytes) {
      beast::error_code ignored;
      self->stream_.socket().close(ignored);
      return;
    }
    self->drain(drained + bytes);
  });
}

}  // namespace tessera::server
