// `tessera bench serve`: the online benchmark against a running OpenAI-compatible server
// (tools/bench/serve_bench.h), with `vllm bench serve`'s flags and result JSON.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include "command.h"
#include "common/check.h"
#include "common_options.h"
#include "engine_options.h"
#include "serve_bench.h"
#include "tokenizer/tokenizer.h"

namespace po = boost::program_options;

namespace tessera::cli {

namespace {

std::vector<double> parse_percentiles(const std::string& text) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      const double p = std::stod(item, &used);
      if (used != item.size() || p <= 0 || p >= 100) throw std::invalid_argument(item);
      out.push_back(p);
    } catch (const std::exception&) {
      throw UsageError("--metric-percentiles: '" + item + "' is not a number in (0, 100)");
    }
  }
  if (out.empty()) throw UsageError("--metric-percentiles is empty");
  return out;
}

}  // namespace

int run_bench_serve(int argc, char** argv) {
  po::options_description options("tessera bench serve");
  options.add_options()("help,h", "show this help")(
      "base-url", po::value<std::string>()->default_value("http://127.0.0.1:8000"),
      "server to benchmark")("endpoint", po::value<std::string>()->default_value("/v1/completions"),
                             "API path")("model", po::value<std::string>(),
                                         "model name to request (default: the server's first)")(
      "tokenizer", po::value<std::string>(),
      "tokenizer directory or tokenizer.json for datasets (default: the embedded default "
      "model's)")("api-key", po::value<std::string>(), "Bearer key (default: $TESSERA_API_KEY)")(
      "dataset-name", po::value<std::string>()->default_value("random"), "random or sharegpt")(
      "dataset-path", po::value<std::string>(), "ShareGPT-format JSON file")(
      "num-prompts", po::value<int>()->default_value(1000), "requests to send")(
      "random-input-len", po::value<int>()->default_value(1024), "random prompt length, tokens")(
      "random-output-len", po::value<int>()->default_value(128), "random output length, tokens")(
      "random-range-ratio", po::value<double>()->default_value(0.0),
      "lengths uniform in len*(1-r)..len*(1+r)")(
      "sharegpt-output-len", po::value<int>()->default_value(0),
      "fixed output length for ShareGPT (0: the reference answer's)")(
      "request-rate", po::value<std::string>()->default_value("inf"),
      "requests per second (Poisson / gamma arrivals); inf sends all at once")(
      "burstiness", po::value<double>()->default_value(1.0),
      "gamma shape of inter-arrival times (1 = Poisson; lower = burstier)")(
      "max-concurrency", po::value<int>()->default_value(0),
      "requests in flight at most (0: no cap)")("seed", po::value<uint64_t>()->default_value(0),
                                                "seed for datasets and arrivals")(
      "ignore-eos", "ask the server to ignore end-of-sequence (exact output lengths)")(
      "temperature", po::value<double>()->default_value(0.0), "sampling temperature")(
      "metric-percentiles", po::value<std::string>()->default_value("90,99"),
      "comma-separated percentiles to report")("client-threads", po::value<int>()->default_value(2),
                                               "client I/O threads")(
      "save-result", po::value<std::string>(), "write the result JSON to this file");
  const auto vm = parse_command_line(argc, argv, options);
  if (vm.count("help")) {
    print_command_help("bench serve",
                       "Online benchmark of a running server (vLLM's `bench serve`): TTFT, TPOT, "
                       "ITL, E2EL and throughput over streamed /v1/completions.",
                       options);
    return 0;
  }
  bench::ServeBenchOptions o;
  o.base_url = vm["base-url"].as<std::string>();
  o.endpoint = vm["endpoint"].as<std::string>();
  if (vm.count("model")) o.model = vm["model"].as<std::string>();
  if (vm.count("api-key")) {
    o.api_key = vm["api-key"].as<std::string>();
  } else if (const char* env = std::getenv("TESSERA_API_KEY"); env != nullptr) {
    o.api_key = env;
  }
  const std::string rate = vm["request-rate"].as<std::string>();
  if (rate == "inf") {
    o.request_rate = std::numeric_limits<double>::infinity();
  } else {
    try {
      o.request_rate = std::stod(rate);
    } catch (const std::exception&) {
      throw UsageError("--request-rate must be a number or inf");
    }
    if (!(o.request_rate > 0)) throw UsageError("--request-rate must be positive");
  }
  o.burstiness = vm["burstiness"].as<double>();
  if (!(o.burstiness > 0)) throw UsageError("--burstiness must be positive");
  o.max_concurrency = vm["max-concurrency"].as<int>();
  if (o.max_concurrency < 0) throw UsageError("--max-concurrency must be >= 0");
  o.seed = vm["seed"].as<uint64_t>();
  o.ignore_eos = vm.count("ignore-eos") > 0;
  o.temperature = vm["temperature"].as<double>();
  o.percentiles = parse_percentiles(vm["metric-percentiles"].as<std::string>());
  o.client_threads = vm["client-threads"].as<int>();
  if (o.client_threads < 1 || o.client_threads > 64)
    throw UsageError("--client-threads must be in 1..64");
  o.dataset_name = vm["dataset-name"].as<std::string>();
  const int num_prompts = vm["num-prompts"].as<int>();
  if (num_prompts <= 0) throw UsageError("--num-prompts must be positive");

  std::string tokenizer_path =
      vm.count("tokenizer") ? vm["tokenizer"].as<std::string>() : default_model_path();
  if (tokenizer_path.empty()) {
    throw UsageError("no --tokenizer given and the embedded default model was not built");
  }
  const auto tok = tokenizer::Tokenizer::from_files(tokenizer_path);
  std::vector<bench::BenchRequest> requests;
  if (o.dataset_name == "random") {
    requests = bench::random_dataset(*tok, num_prompts, vm["random-input-len"].as<int>(),
                                     vm["random-output-len"].as<int>(),
                                     vm["random-range-ratio"].as<double>(), o.seed);
  } else if (o.dataset_name == "sharegpt") {
    if (!vm.count("dataset-path")) throw UsageError("--dataset-name sharegpt needs --dataset-path");
    requests = bench::sharegpt_dataset(vm["dataset-path"].as<std::string>(), *tok, num_prompts,
                                       vm["sharegpt-output-len"].as<int>(), o.seed);
  } else {
    throw UsageError("--dataset-name must be random or sharegpt");
  }
  std::cerr << "tessera bench serve: " << requests.size() << " requests to " << o.base_url
            << o.endpoint << ", request rate " << rate
            << (o.max_concurrency > 0 ? ", max concurrency " + std::to_string(o.max_concurrency)
                                      : "")
            << "\n";
  auto result = bench::run_serve_bench(o, requests);
  result["tokenizer_id"] = tokenizer_path;
  std::cout << bench::format_report(result, o.percentiles) << std::flush;
  if (vm.count("save-result")) {
    const auto path = vm["save-result"].as<std::string>();
    std::ofstream out(path);
    if (!out.good()) throw Error("--save-result: cannot write " + path);
    out << result.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return result["failed"].get<int>() == 0 ? 0 : 1;
}

}  // namespace tessera::cli
