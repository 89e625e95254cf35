// `tessera serve`: the OpenAI-compatible HTTP server (tools/server) over one Engine, with
// vLLM's flags: --host, --port, --api-key, --served-model-name, --chat-template, plus the
// shared engine flags. Exits 0 after a graceful shutdown on SIGINT/SIGTERM.
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "command.h"
#include "tessera/check.h"
#include "tessera/log.h"
#include "common_options.h"
#include "engine_options.h"
#include "server.h"
#include "tessera/engine.h"

#ifndef TESSERA_VERSION
#define TESSERA_VERSION "unknown"
#endif

namespace po = boost::program_options;

namespace tessera::cli {

namespace {

std::string default_served_name(const std::string& model, bool is_default) {
  if (is_default) return "tessera-default";
  std::filesystem::path path(model);
  if (!path.has_filename()) path = path.parent_path();  // "dir/" -> "dir"
  const auto name = path.filename().string();
  return name.empty() ? model : name;
}

// --reasoning-parser / --enable-reasoning and --enable-auto-tool-choice / --tool-call-parser:
// each flag does what it says or the command stops (none is accepted and ignored).
server::ChatParsing chat_parsing_from(const po::variables_map& vm) {
  server::ChatParsing parsing;
  auto parse = [](const char* flag, auto&& parse_value) {
    try {
      return parse_value();
    } catch (const Error& e) {
      throw UsageError(std::string("--") + flag + ": " + e.what());
    }
  };
  {
    if (vm.count("reasoning-parser")) {
      parsing.reasoning = parse("reasoning-parser", [&] {
        return server::parse_reasoning_format(vm["reasoning-parser"].as<std::string>());
      });
    } else if (vm.count("enable-reasoning")) {
      throw UsageError("--enable-reasoning needs --reasoning-parser deepseek_r1|qwen3");
    }
    if (vm.count("enable-auto-tool-choice")) {
      if (!vm.count("tool-call-parser")) {
        throw UsageError("--enable-auto-tool-choice needs --tool-call-parser hermes|llama3_json");
      }
      parsing.tools = parse("tool-call-parser", [&] {
        return server::parse_tool_call_format(vm["tool-call-parser"].as<std::string>());
      });
    } else if (vm.count("tool-call-parser")) {
      throw UsageError(
          "--tool-call-parser takes effect only with --enable-auto-tool-choice; give both");
    }
  }
  return parsing;
}

}  // namespace

po::options_description serve_options() {
  po::options_description options("tessera serve");
  options.add_options()("help,h", "show this help")(
      "host", po::value<std::string>()->default_value("127.0.0.1"), "address to bind")(
      "port", po::value<int>()->default_value(8000), "port to bind (0: any free port)")(
      "api-key", po::value<std::string>(),
      "require 'Authorization: Bearer KEY' on /v1/* (default: $TESSERA_API_KEY)")(
      "served-model-name", po::value<std::vector<std::string>>()->multitoken(),
      "model name(s) the API accepts; the first is used in responses (default: the model "
      "directory's name, or tessera-default)")(
      "default-chat-template-kwargs", po::value<std::string>(),
      "JSON object of chat template variables every request gets unless it sets them, e.g. "
      "'{\"enable_thinking\": false}' (a mapping in a --config file)")(
      "chat-template", po::value<std::string>(),
      "chat template file, or the template itself (default: the model's, else ChatML)")(
      "max-request-body", po::value<std::string>()->default_value("4MiB"),
      "largest request body accepted (413 beyond)")(
      "default-max-tokens", po::value<int>()->default_value(0),
      "cap on max_tokens when a request gives none (0: max_model_len - prompt, as vLLM)")(
      "max-n", po::value<int>()->default_value(128), "largest 'n' a request may ask")(
      "http-threads", po::value<int>()->default_value(2), "threads serving connections")(
      "keep-alive-timeout", po::value<double>()->default_value(30.0),
      "seconds an idle keep-alive connection stays open")(
      "shutdown-grace", po::value<double>()->default_value(5.0),
      "seconds in-flight requests may finish after SIGINT/SIGTERM before they are aborted")(
      "reasoning-parser", po::value<std::string>(),
      "split <think>…</think> of chat outputs into reasoning_content: deepseek_r1 or qwen3")(
      "enable-reasoning", "vLLM's older switch for reasoning output; needs --reasoning-parser")(
      "enable-auto-tool-choice",
      "parse tool calls out of chat outputs when a request offers tools (tool_choice auto); "
      "needs --tool-call-parser")("tool-call-parser", po::value<std::string>(),
                                  "tool-call format: hermes or llama3_json");
  options.add(engine_options()).add(loader_options());
  return options;
}

int run_serve_command(int argc, char** argv) {
  const auto options = serve_options();
  const auto vm = parse_command_line(argc, argv, options);
  if (vm.count("help")) {
    print_command_help("serve",
                       "OpenAI-compatible HTTP server: /v1/completions, /v1/chat/completions, "
                       "/v1/models, /tokenize, /detokenize, /health, /version, /metrics.",
                       options);
    return 0;
  }
  server::ServerOptions so;
  so.host = vm["host"].as<std::string>();
  const int port = vm["port"].as<int>();
  if (port < 0 || port > 65535) throw UsageError("--port must be in 0..65535");
  so.port = static_cast<uint16_t>(port);
  if (vm.count("api-key")) {
    so.api_key = vm["api-key"].as<std::string>();
  } else if (const char* env = std::getenv("TESSERA_API_KEY"); env != nullptr) {
    so.api_key = env;
  }
  try {
    so.max_request_body = parse_byte_size(vm["max-request-body"].as<std::string>());
  } catch (const Error& e) {
    throw UsageError(std::string("--max-request-body: ") + e.what());
  }
  if (so.max_request_body == 0) throw UsageError("--max-request-body must be positive");
  so.default_max_tokens = vm["default-max-tokens"].as<int>();
  if (so.default_max_tokens < 0) throw UsageError("--default-max-tokens must be >= 0");
  so.max_n = vm["max-n"].as<int>();
  if (so.max_n < 1) throw UsageError("--max-n must be >= 1");
  so.http_threads = vm["http-threads"].as<int>();
  if (so.http_threads < 1 || so.http_threads > 64)
    throw UsageError("--http-threads must be in 1..64");
  so.keep_alive_timeout_s = vm["keep-alive-timeout"].as<double>();
  so.shutdown_grace_s = vm["shutdown-grace"].as<double>();
  if (so.keep_alive_timeout_s <= 0) throw UsageError("--keep-alive-timeout must be positive");
  if (so.shutdown_grace_s < 0) throw UsageError("--shutdown-grace must be >= 0");
  if (vm.count("chat-template")) so.chat_template = vm["chat-template"].as<std::string>();
  so.chat_parsing = chat_parsing_from(vm);
  if (vm.count("default-chat-template-kwargs")) {
    const auto text = vm["default-chat-template-kwargs"].as<std::string>();
    so.default_chat_template_kwargs = nlohmann::json::parse(text, nullptr, false);
    if (!so.default_chat_template_kwargs.is_object()) {
      throw UsageError("--default-chat-template-kwargs must be a JSON object, got '" + text + "'");
    }
  }
  so.version = TESSERA_VERSION;

  bool is_default = false;
  const EngineConfig config = engine_config_from(vm, &is_default);
  so.served_model_names =
      vm.count("served-model-name")
          ? vm["served-model-name"].as<std::vector<std::string>>()
          : std::vector<std::string>{default_served_name(config.model, is_default)};
  if (is_default) std::cerr << default_model().banner << "; served as 'tessera-default'.\n";
  LoadProgressBar progress;
  auto engine = Engine::create(config, std::ref(progress));
  const auto& plan = engine->memory_plan();
  TSR_LOG_INFO("model {} ({}, {}) on {}: max_model_len {}, {} KV blocks ({} tokens)",
               so.served_model_names.front(), engine->model().architecture, engine->model().dtype,
               plan.device, engine->max_model_len(), plan.num_kv_blocks, plan.kv_tokens);
  server::Server server(*engine, so);
  const std::string name = so.served_model_names.front();
  return server.run([&](const std::string& url) {
    std::cerr << "tessera serve: ready: model '" << name << "' at " << url << " (OpenAI API under "
              << url << "/v1; Ctrl-C to stop)\n"
              << std::flush;
  });
}

}  // namespace tessera::cli
