// ServeClient: the HTTP side of `tessera bench serve`. Sends OpenAI /v1/completions requests
// with stream=true over Boost.Beast (one connection per request, all on one io_context run
// by a small thread pool) and timestamps every SSE chunk as it is parsed, the way vLLM's
// benchmark client does: TTFT at the first chunk with choices, ITL between later ones,
// latency at the last one, output tokens from the usage chunk.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::bench {

struct Url {
  std::string host;
  std::string port;
  std::string base_path;  // without a trailing '/'
};
// "http://host:port[/prefix]"; throws tessera::Error for anything else (no https).
Url parse_url(const std::string& url);

struct StreamResult {
  bool success = false;
  std::string error;
  std::string generated_text;
  double ttft = 0;     // seconds
  double latency = 0;  // seconds, request sent -> last chunk
  std::vector<double> itl;
  int output_tokens = -1;  // from usage; -1 when the server sent none
};

class ServeClient {
 public:
  // `api_key`: sent as 'Authorization: Bearer KEY' when not empty.
  ServeClient(Url url, int threads, std::string api_key = "");
  ~ServeClient();
  ServeClient(const ServeClient&) = delete;
  ServeClient& operator=(const ServeClient&) = delete;

  // Starts one streaming POST; `done` runs on a client thread when it ends.
  void stream(const std::string& path, const nlohmann::json& body,
              std::function<void(StreamResult)> done);
  // A blocking request (GET when body is null): {status, body}.
  std::pair<int, std::string> request(const std::string& method, const std::string& path,
                                      const nlohmann::json& body = nullptr);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::bench
