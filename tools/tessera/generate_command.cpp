// `tessera generate`: offline generation.
//   --prompt TEXT                 stream one continuation to stdout as it is produced
//   --input FILE [--output FILE]  a JSONL batch of OpenAI completion requests; every line
//                                 goes into the engine at once (continuous batching) and
//                                 results are written in input order
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.h"
#include "tessera/check.h"
#include "common_options.h"
#include "tessera/request_json.h"
#include "engine_options.h"
#include "tessera/engine.h"
#include "tessera/tokenizer.h"

namespace po = boost::program_options;
using nlohmann::json;

namespace tessera::cli {

namespace {

struct BatchItem {
  std::vector<int32_t> prompt;
  SamplingParams params;
};

std::vector<int32_t> prompt_ids(const json& prompt, const tokenizer::Tokenizer& tok,
                                const std::string& where) {
  if (prompt.is_string()) return tok.encode(prompt.get<std::string>());
  TSR_CHECK(prompt.is_array() && !prompt.empty(),
            "{}: 'prompt' must be a string or a non-empty list of token ids", where);
  std::vector<int32_t> ids;
  for (const auto& id : prompt) {
    TSR_CHECK(id.is_number_integer(), "{}: 'prompt' token ids must be integers", where);
    ids.push_back(id.get<int32_t>());
  }
  return ids;
}

void print_banner(const Engine& engine, bool is_default) {
  const auto& m = engine.model();
  if (is_default) std::cerr << default_model().banner << " (" << m.architecture << ").\n";
}

int run_prompt(Engine& engine, const std::string& text, const SamplingParams& params) {
  const auto ids = engine.tokenizer().encode(text);
  auto channel = engine.add_request("prompt-0", ids, params);
  engine.start();
  RequestOutput last;
  while (auto out = channel->next()) {
    std::cout << out->text << std::flush;
    last = std::move(*out);
  }
  std::cout << "\n";
  engine.stop();
  if (last.finish_reason == FinishReason::kError) throw Error(last.error);
  std::cerr << "[" << last.completion_tokens << " tokens, finish_reason "
            << to_string(last.finish_reason) << "]\n";
  return 0;
}

int run_batch(Engine& engine, const std::string& input, const std::string& output,
              int default_max_tokens) {
  std::ifstream in(input);
  TSR_CHECK(in.good(), "cannot read --input {}", input);
  // Parse and validate every line before running any, so a bad line costs nothing.
  std::vector<BatchItem> items;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = input + ":" + std::to_string(number);
    json request;
    try {
      request = json::parse(line);
    } catch (const json::exception& e) {
      throw Error(fmt::format("{}: not valid JSON: {}", where, e.what()));
    }
    TSR_CHECK(request.is_object() && request.contains("prompt"), "{}: no 'prompt'", where);
    BatchItem item;
    try {
      item.params = engine::sampling_params_from_json(request, default_max_tokens);
      item.params.validate(engine.config().max_logprobs);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", where, e.what()));
    }
    item.prompt = prompt_ids(request["prompt"], engine.tokenizer(), where);
    items.push_back(std::move(item));
  }
  std::vector<std::shared_ptr<OutputChannel>> channels;
  for (size_t i = 0; i < items.size(); ++i) {
    channels.push_back(
        engine.add_request("batch-" + std::to_string(i), items[i].prompt, items[i].params));
  }
  engine.start();
  std::ofstream file;
  if (!output.empty()) {
    file.open(output);
    TSR_CHECK(file.good(), "cannot write --output {}", output);
  }
  std::ostream& out = output.empty() ? std::cout : file;
  int failed = 0;
  for (size_t i = 0; i < channels.size(); ++i) {
    std::string text;
    std::vector<int32_t> tokens;
    RequestOutput last;
    while (auto o = channels[i]->next()) {
      text += o->text;
      tokens.insert(tokens.end(), o->token_ids.begin(), o->token_ids.end());
      last = std::move(*o);
    }
    json result = {{"index", i},
                   {"text", text},
                   {"token_ids", tokens},
                   {"finish_reason", to_string(last.finish_reason)},
                   {"usage",
                    {{"prompt_tokens", last.prompt_tokens},
                     {"completion_tokens", last.completion_tokens},
                     {"total_tokens", last.prompt_tokens + last.completion_tokens}}}};
    if (!last.error.empty()) {
      result["error"] = last.error;
      ++failed;
    }
    out << result.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  }
  engine.stop();
  std::cerr << "tessera generate: " << channels.size() << " requests, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}

}  // namespace

po::options_description generate_options() {
  po::options_description options("tessera generate");
  options.add_options()("help,h", "show this help")("prompt,p", po::value<std::string>(),
                                                    "one prompt: stream its continuation")(
      "input,i", po::value<std::string>(), "JSONL file of completion requests")(
      "output,o", po::value<std::string>(), "JSONL results (default: stdout)")(
      "max-tokens", po::value<int>()->default_value(64), "tokens to generate")(
      "temperature", po::value<float>()->default_value(0.0f), "0 = greedy")(
      "top-p", po::value<float>()->default_value(1.0f), "nucleus sampling")(
      "top-k", po::value<int>()->default_value(0), "0 = off")(
      "min-p", po::value<float>()->default_value(0.0f), "0 = off")(
      "repetition-penalty", po::value<float>()->default_value(1.0f), "1 = off")(
      "sampling-seed", po::value<uint64_t>(), "seed of this prompt's sampling")(
      "stop", po::value<std::vector<std::string>>(), "stop string (repeatable)")(
      "ignore-eos", "keep generating after end-of-sequence");
  options.add(engine_options()).add(loader_options());
  return options;
}

int run_generate_command(int argc, char** argv) {
  const auto options = generate_options();
  const auto vm = parse_command_line(argc, argv, options);
  if (vm.count("help")) {
    print_command_help("generate",
                       "Offline generation: stream one --prompt, or run a JSONL --input batch "
                       "through the continuous-batching engine.",
                       options);
    return 0;
  }
  if (vm.count("prompt") == vm.count("input")) {
    throw UsageError("give exactly one of --prompt and --input");
  }
  bool is_default = false;
  EngineConfig config = engine_config_from(vm, &is_default);
  LoadProgressBar progress;
  auto engine = Engine::create(config, std::ref(progress));
  print_banner(*engine, is_default);
  if (vm.count("input")) {
    return run_batch(*engine, vm["input"].as<std::string>(),
                     vm.count("output") ? vm["output"].as<std::string>() : "",
                     vm["max-tokens"].as<int>());
  }
  SamplingParams params;
  params.max_tokens = vm["max-tokens"].as<int>();
  params.temperature = vm["temperature"].as<float>();
  params.top_p = vm["top-p"].as<float>();
  params.top_k = vm["top-k"].as<int>();
  params.min_p = vm["min-p"].as<float>();
  params.repetition_penalty = vm["repetition-penalty"].as<float>();
  if (vm.count("sampling-seed")) params.seed = vm["sampling-seed"].as<uint64_t>();
  if (vm.count("stop")) params.stop = vm["stop"].as<std::vector<std::string>>();
  params.ignore_eos = vm.count("ignore-eos") > 0;
  return run_prompt(*engine, vm["prompt"].as<std::string>(), params);
}

}  // namespace tessera::cli
