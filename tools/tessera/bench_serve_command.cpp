// `tessera bench serve`: the online benchmark against a running OpenAI-compatible server
// (tools/bench/serve_bench.h), with `vllm bench serve`'s flags and result JSON.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "command.h"
#include "tessera/check.h"
#include "common_options.h"
#include "engine_options.h"
#include "host_state.h"
#include "serve_bench.h"
#include "serve_client.h"
#include "serve_sweep.h"
#include "sweep_point.h"
#include "sweep_plot.h"
#include "tessera/tokenizer.h"

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

void write_text_file(const std::string& path, const std::string& text, const char* flag) {
  std::ofstream out(path);
  if (!out.good()) throw Error(std::string(flag) + ": cannot write " + path);
  out << text;
  if (!out.good()) throw Error(std::string(flag) + ": cannot write " + path);
}

// The server's settings from GET /server_info; null (with a note) from a server without it.
nlohmann::json fetch_server_info(const bench::ServeBenchOptions& o) {
  try {
    bench::ServeClient client(bench::parse_url(o.base_url), 1, o.api_key);
    const auto [status, body] = client.request("GET", "/server_info");
    if (status == 200) return nlohmann::json::parse(body);
    std::cerr << "tessera bench serve: " << o.base_url << "/server_info answered " << status
              << "; the result will not record the server's settings\n";
  } catch (const std::exception& e) {
    std::cerr << "tessera bench serve: cannot read " << o.base_url << "/server_info: " << e.what()
              << "\n";
  }
  return nullptr;
}

// The datasets are tokenized as the server will tokenize them: --tokenizer, else the served
// model's files when /server_info names files on this machine, else the default model's.
std::string dataset_tokenizer_path(const po::variables_map& vm, const bench::ServeBenchOptions& o) {
  if (vm.count("tokenizer")) return vm["tokenizer"].as<std::string>();
  namespace fs = std::filesystem;
  std::error_code ec;
  const nlohmann::json info = fetch_server_info(o);
  if (info.is_object() && info.contains("engine_config")) {
    const auto& engine = info["engine_config"];
    for (const char* key : {"tokenizer", "model"}) {
      const std::string path = engine.value(key, std::string());
      if (!path.empty() && fs::exists(path, ec)) return path;
    }
  }
  const std::string fallback = default_model().path;
  if (fallback.empty()) {
    throw UsageError(
        "no --tokenizer given, the server's model is not on this machine and the "
        "default model was not built");
  }
  return fallback;
}

bench::SweepOptions sweep_options_from(const po::variables_map& vm) {
  bench::SweepOptions s;
  const auto by = vm["sweep-by"].as<std::string>();
  if (by == "request-rate") {
    s.by = bench::SweepBy::kRequestRate;
  } else if (by == "concurrency") {
    s.by = bench::SweepBy::kConcurrency;
  } else {
    throw UsageError("--sweep-by must be request-rate or concurrency");
  }
  s.start = vm["sweep-start"].as<double>();
  s.max_load = vm["sweep-max"].as<double>();
  s.tolerance = vm["sweep-tolerance"].as<double>();
  s.max_runs = vm["sweep-max-runs"].as<int>();
  s.slo_ttft_p99_ms = vm.count("slo-ttft-p99-ms") ? vm["slo-ttft-p99-ms"].as<double>() : 0;
  s.slo_tpot_p99_ms = vm.count("slo-tpot-p99-ms") ? vm["slo-tpot-p99-ms"].as<double>() : 0;
  if (s.slo_ttft_p99_ms < 0 || s.slo_tpot_p99_ms < 0) throw UsageError("SLOs must be positive");
  if (s.slo_ttft_p99_ms == 0 && s.slo_tpot_p99_ms == 0) {
    throw UsageError("--sweep needs an SLO: --slo-ttft-p99-ms and/or --slo-tpot-p99-ms");
  }
  if (!(s.start > 0) || s.max_load < s.start) {
    throw UsageError("--sweep-start must be positive and at most --sweep-max");
  }
  if (!(s.tolerance > 0 && s.tolerance < 1))
    throw UsageError("--sweep-tolerance must be in (0, 1)");
  if (s.max_runs < 2 || s.max_runs > 100) throw UsageError("--sweep-max-runs must be in 2..100");
  return s;
}

int run_sweep(const po::variables_map& vm, bench::ServeBenchOptions o,
              const std::vector<bench::BenchRequest>& requests, const std::string& tokenizer_path) {
  const bench::SweepOptions s = sweep_options_from(vm);
  if (std::find(o.percentiles.begin(), o.percentiles.end(), 99.0) == o.percentiles.end()) {
    o.percentiles.push_back(99);  // the SLO is on p99
  }
  const nlohmann::json server_info = fetch_server_info(o);
  auto slo = [](double ms) { return ms > 0 ? fmt::format("{} ms", ms) : std::string("-"); };
  std::cerr << fmt::format(
      "tessera bench serve --sweep: {} from {}, {} requests per run to {}{}, SLO p99 TTFT {}, "
      "p99 TPOT {}\n",
      bench::to_string(s.by), s.start, requests.size(), o.base_url, o.endpoint,
      slo(s.slo_ttft_p99_ms), slo(s.slo_tpot_p99_ms));
  bench::warm_up_server(o, requests);
  const auto outcome = bench::run_sweep(
      s, bench::SweepPointRunner(o, s, requests, vm["sweep-run-seconds"].as<double>(),
                                 std::min<size_t>(20, requests.size())));
  nlohmann::json out = {{"sweep", bench::sweep_json(s, outcome)},
                        {"benchmark",
                         {{"base_url", o.base_url},
                          {"endpoint", o.endpoint},
                          {"model", o.model},
                          {"dataset_name", o.dataset_name},
                          {"num_prompts", requests.size()},
                          {"seed", o.seed},
                          {"burstiness", o.burstiness},
                          {"ignore_eos", o.ignore_eos},
                          {"tokenizer_id", tokenizer_path}}},
                        {"server_info", server_info},
                        {"host", bench::host_state()}};
  if (o.dataset_name == "random") {
    out["benchmark"]["random_input_len"] = vm["random-input-len"].as<int>();
    out["benchmark"]["random_output_len"] = vm["random-output-len"].as<int>();
    out["benchmark"]["random_range_ratio"] = vm["random-range-ratio"].as<double>();
  }
  std::cout << "knee (" << bench::load_label(s.by)
            << "): " << (outcome.knee ? fmt::format("{}", *outcome.knee) : std::string("none"))
            << "  (" << outcome.note << ", " << outcome.runs.size() << " runs)\n";
  std::string plot_path;
  if (vm.count("sweep-plot")) {
    plot_path = vm["sweep-plot"].as<std::string>();
  } else if (vm.count("save-result")) {
    plot_path = vm["save-result"].as<std::string>();
    if (plot_path.ends_with(".json")) plot_path.resize(plot_path.size() - 5);
    plot_path += ".svg";
  }
  if (!plot_path.empty()) {
    const std::string model = server_info.is_object()
                                  ? server_info["server"]["served_model_name"][0].get<std::string>()
                                  : o.model;
    write_text_file(plot_path,
                    bench::render_sweep_svg(
                        bench::sweep_plot(s, outcome, "tessera bench serve --sweep: " + model)),
                    "--sweep-plot");
    out["plot"] = plot_path;
    std::cout << "plot: " << plot_path << "\n";
  }
  if (vm.count("save-result")) {
    write_text_file(vm["save-result"].as<std::string>(),
                    out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                    "--save-result");
  }
  return outcome.knee ? 0 : 1;
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
      "tokenizer for the datasets: a model directory, tokenizer.json or .gguf (default: the "
      "served model's when its files are on this machine, else the default model's)")(
      "api-key", po::value<std::string>(), "Bearer key (default: $TESSERA_API_KEY)")(
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
  po::options_description sweep(
      "Load sweep (--sweep): find the knee, the highest load meeting an SLO");
  sweep.add_options()("sweep", "step the load up until the SLO breaks, then bisect to the knee")(
      "sweep-by", po::value<std::string>()->default_value("request-rate"),
      "request-rate (Poisson arrivals) or concurrency (--max-concurrency, all sent at once)")(
      "sweep-start", po::value<double>()->default_value(1.0), "first load tried")(
      "sweep-max", po::value<double>()->default_value(512.0), "highest load tried")(
      "sweep-tolerance", po::value<double>()->default_value(0.1),
      "stop when the knee is bracketed within this fraction")(
      "sweep-max-runs", po::value<int>()->default_value(12), "benchmark runs at most")(
      "sweep-run-seconds", po::value<double>()->default_value(0.0),
      "request-rate sweeps: send rate x this many seconds of requests per run (at least 20, "
      "at most --num-prompts), so an overload builds a queue; 0: --num-prompts every run")(
      "slo-ttft-p99-ms", po::value<double>(), "SLO: p99 time to first token, ms")(
      "slo-tpot-p99-ms", po::value<double>(), "SLO: p99 time per output token, ms")(
      "sweep-plot", po::value<std::string>(),
      "SVG plot of the sweep (default: --save-result with .svg)");
  options.add(sweep);
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

  const std::string tokenizer_path = dataset_tokenizer_path(vm, o);
  const auto tok = tokenizer_path.ends_with(".json")
                       ? tokenizer::Tokenizer::from_files(tokenizer_path)
                       : tokenizer::Tokenizer::for_model(tokenizer_path);
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
  if (vm.count("sweep")) return run_sweep(vm, o, requests, tokenizer_path);
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
