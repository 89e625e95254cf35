// Session: one HTTP/1.1 connection (keep-alive, one request at a time). All of its handlers
// run on the connection's strand; engine outputs reach it through relay threads that post to
// that strand (OutputChannel is a blocking queue, so each generation gets one relay thread
// that waits on its channels).
//
// While a generation runs, the session keeps a read pending on the socket: EOF or an error
// there means the client went away, and every engine request of the generation is aborted
// with disconnected=true (the engine frees its blocks at the next step). Bytes that arrive
// instead (a pipelined request) are kept for the next read.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "openai_api.h"
#include "server_state.h"

namespace tessera::server {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(boost::asio::ip::tcp::socket socket, ServerState& state);
  ~Session();
  void start();
  // Shutdown: closes the connection now if it waits for a request; otherwise it closes after
  // the response in flight.
  void close_if_idle();

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  struct Generation;

  void do_read();
  void on_read(boost::beast::error_code ec, size_t bytes);
  void handle(Request& request);
  void route(Request& request);
  void respond(int status, const std::string& body, const std::string& content_type,
               const std::string& allow = "");
  void respond_error(int status, const nlohmann::json& error);

  void start_generation(Request& request, bool chat);
  void on_output(size_t choice, RequestOutput output);
  void abort_generation(bool disconnected);
  void watch_disconnect();
  void on_watch(boost::beast::error_code ec, size_t bytes);
  void maybe_finish_generation();

  void queue_write(std::string bytes);
  void do_write();
  void on_write(boost::beast::error_code ec, size_t bytes);
  void after_response();
  void close();
  void drain(size_t drained);

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  ServerState& state_;

  bool reading_ = false;  // waiting for a request
  bool keep_alive_ = false;
  bool closed_ = false;
  bool peer_gone_ = false;
  bool watching_ = false;
  bool response_done_ = false;  // the whole response is queued
  std::deque<std::string> writes_;
  bool writing_ = false;
  std::unique_ptr<Generation> generation_;
};

}  // namespace tessera::server
