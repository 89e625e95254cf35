// GET /server_info (vLLM's path): the settings this server runs with — the engine
// configuration under vLLM's option names, the server's own options (never the API key),
// the model and the memory plan — so that a benchmark result can record what it measured
// (`tessera bench serve` saves it beside its figures).
#pragma once

#include <nlohmann/json.hpp>

#include "server.h"
#include "tessera/engine.h"

namespace tessera::server {

nlohmann::json server_info_body(const Engine& engine, const ServerOptions& options);

}  // namespace tessera::server
