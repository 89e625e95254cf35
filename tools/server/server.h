// tessera::server::Server: the OpenAI-compatible HTTP/1.1 server over an Engine.
//
// Boost.Beast on a small Asio thread pool; each connection is a Session on its own strand
// (http_session.h). The engine runs on its own thread (Engine::start). Requests go through
// the routes of docs/server.md; generation requests become engine requests whose outputs are
// relayed back to the connection's strand and streamed (SSE) or gathered into one body.
//
// Shutdown (SIGINT/SIGTERM, or stop()): stop accepting, close idle keep-alive connections,
// let in-flight requests finish for up to `shutdown_grace_s`, abort the rest (they end with
// finish_reason "abort"), flush their responses, and return from run() with 0.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat_output.h"
#include "tessera/engine.h"

namespace tessera::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;
  std::string api_key;                            // empty: no authentication
  uint64_t max_request_body = uint64_t{4} << 20;  // bytes
  int http_threads = 2;
  double keep_alive_timeout_s = 30;
  double shutdown_grace_s = 5;
  std::vector<std::string> served_model_names;  // at least one
  std::string chat_template;                    // --chat-template (file or inline); "" = model's
  int default_max_tokens = 0;                   // cap on the default max_tokens (0: none)
  int max_n = 128;
  std::string version;
  nlohmann::json default_chat_template_kwargs = nlohmann::json::object();
  ChatParsing chat_parsing;  // --reasoning-parser; --tool-call-parser with auto tool choice
};

class Server {
 public:
  Server(Engine& engine, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds (throws tessera::Error when the address is taken or invalid), starts the engine,
  // calls on_ready(url) once accepting, and serves until a signal or stop(). Returns 0.
  int run(const std::function<void(const std::string& url)>& on_ready = {});
  // Begins a graceful shutdown; callable from any thread.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::server
