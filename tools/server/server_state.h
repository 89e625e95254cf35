// What every connection of one Server shares: the engine, the options, the API limits, the
// prompt builder, counters, and the bookkeeping that lets shutdown wait for output relays and
// sessions. Internal to tools/server.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "openai_api.h"
#include "prompt_builder.h"
#include "server.h"

namespace tessera::server {

class Session;

struct ServerState {
  ServerState(Engine& e, ServerOptions o) : engine(e), options(std::move(o)) {}

  Engine& engine;
  ServerOptions options;
  ApiLimits limits;
  std::unique_ptr<PromptBuilder> prompts;
  int64_t started_at = 0;  // unix seconds, for /v1/models

  std::atomic<bool> shutting_down{false};
  std::atomic<uint64_t> http_requests{0};
  std::atomic<uint64_t> http_errors{0};
  std::atomic<int> live_sessions{0};

  // Engine admission: once stopped, no request may be added (its output would never come).
  std::mutex admission_mutex;
  bool engine_stopped = false;

  // Output relays still running (each ends after its request's final output).
  std::mutex relay_mutex;
  std::condition_variable relay_idle;
  int relays = 0;

  // Sessions, so that shutdown can close idle keep-alive connections.
  std::mutex sessions_mutex;
  std::vector<std::weak_ptr<Session>> sessions;
};

}  // namespace tessera::server
