// `tessera bench`: benchmarks, following `vllm bench`:
//   tessera bench latency     prefill and decode speed of one batch, beside the bandwidth roofline
//   tessera bench throughput  many requests through the in-process engine
//   tessera bench serve       requests against a running `tessera serve`
//   tessera bench perplexity  perplexity over a text file (bench_perplexity_command.cpp)
// The measuring code lives in tools/bench; this file only parses flags and prints.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "command.h"
#include "tessera/check.h"
#include "common_options.h"
#include "engine_options.h"
#include "latency.h"
#include "memory_bandwidth.h"
#include "tessera/engine.h"
#include "throughput.h"
#include "tessera/tokenizer.h"

namespace po = boost::program_options;

namespace tessera::cli {

namespace {

constexpr const char* kBenchUsage =
    "Usage: tessera bench <benchmark> [options]\n"
    "       tessera bench <benchmark> --help\n\n"
    "Benchmarks:\n"
    "  latency     prefill and decode tokens/s of one batch, beside the memory-bandwidth\n"
    "              roofline (weights read per token / measured bandwidth)\n"
    "  throughput  requests/s and tokens/s of many requests through the in-process engine\n"
    "  serve       the same against a running `tessera serve` (HTTP, streaming)\n"
    "  perplexity  perplexity of the model over a text file (sliding windows, prompt\n"
    "              logprobs): compare weight formats\n";

EngineConfig config_from(const po::variables_map& vm) {
  bool is_default = false;
  EngineConfig config = engine_config_from(vm, &is_default);
  if (is_default) std::cerr << default_model().banner << ".\n";
  return config;
}

std::unique_ptr<Engine> load_engine(const EngineConfig& config) {
  LoadProgressBar progress;
  return Engine::create(config, std::ref(progress));
}

void write_json_file(const std::string& path, const nlohmann::json& j) {
  std::ofstream out(path);
  TSR_CHECK(out.good(), "cannot write {}", path);
  out << j.dump(2) << "\n";
  TSR_CHECK(out.good(), "cannot write {}", path);
}

int run_latency_command(int argc, char** argv) {
  po::options_description options("tessera bench latency");
  options.add_options()("help,h", "show this help")(
      "input-len", po::value<int>()->default_value(32), "prompt tokens per request")(
      "output-len", po::value<int>()->default_value(128), "tokens generated per request")(
      "batch-size", po::value<int>()->default_value(1),
      "requests per batch (batch 1 is always measured too)")(
      "num-iters", po::value<int>()->default_value(3), "timed iterations per batch size")(
      "num-iters-warmup", po::value<int>()->default_value(1), "untimed iterations first")(
      "bandwidth-mib", po::value<uint64_t>()->default_value(0),
      "bandwidth test array size in MiB (0: 4x the last-level cache on the host, up to "
      "1 GiB on a GPU)")("json", "print JSON instead of the table")(
      "output-json", po::value<std::string>(), "also write the JSON result to this file");
  options.add(engine_options()).add(loader_options());
  const auto vm = parse_command_line(argc, argv, options);
  if (vm.count("help")) {
    print_command_help(
        "bench latency",
        "Prefill and decode tokens/s of one batch through the engine, printed beside the\n"
        "decode roofline: weight bytes read per decoded token / memory bandwidth measured in\n"
        "the same run (STREAM triad on the host, d2d copy on a GPU). Prefill is the time to\n"
        "the first token; decode is (total - prefill) / (output-len - 1).",
        options);
    return 0;
  }
  bench::LatencyOptions o;
  o.input_len = vm["input-len"].as<int>();
  o.output_len = vm["output-len"].as<int>();
  o.batch_size = vm["batch-size"].as<int>();
  o.num_iters = vm["num-iters"].as<int>();
  o.num_iters_warmup = vm["num-iters-warmup"].as<int>();
  o.seed = vm["seed"].as<uint64_t>();
  if (o.input_len <= 0) throw UsageError("--input-len must be positive");
  if (o.output_len <= 0) throw UsageError("--output-len must be positive");
  if (o.batch_size <= 0) throw UsageError("--batch-size must be positive");
  if (o.num_iters <= 0) throw UsageError("--num-iters must be positive");
  if (o.num_iters_warmup < 0) throw UsageError("--num-iters-warmup must be >= 0");
  const uint64_t bandwidth_mib = vm["bandwidth-mib"].as<uint64_t>();
  if (bandwidth_mib != 0 && bandwidth_mib > (uint64_t{1} << 20)) {
    throw UsageError("--bandwidth-mib is too large");
  }

  EngineConfig config = config_from(vm);
  // The split of a decode step into collectives and compute is only honest when each
  // collective is timed on its own (no-op on the synchronous CPU plugin).
  config.profile_collectives = config.tensor_parallel_size > 1;
  // Measured before the engine exists: the weights and KV cache do not compete with the
  // test arrays for memory, and no engine thread runs meanwhile.
  std::cerr << "tessera bench: measuring memory bandwidth...\n";
  const auto bandwidth = bench::measure_bandwidth_for(config, bandwidth_mib << 20);
  auto engine = load_engine(config);
  std::cerr << "tessera bench: running " << o.num_iters_warmup << " warm-up + " << o.num_iters
            << " iterations at batch 1"
            << (o.batch_size > 1 ? " and " + std::to_string(o.batch_size) : "") << "...\n";
  const auto result = bench::run_latency(*engine, o, bandwidth);
  engine->stop();
  const auto j = bench::to_json(result);
  if (vm.count("json")) {
    std::cout << j.dump(2) << "\n";
  } else {
    bench::print_table(result, std::cout);
  }
  if (vm.count("output-json")) write_json_file(vm["output-json"].as<std::string>(), j);
  return 0;
}

int run_throughput_command(int argc, char** argv) {
  po::options_description options("tessera bench throughput");
  options.add_options()("help,h", "show this help")(
      "num-prompts", po::value<int>()->default_value(64), "requests to send")(
      "input-len", po::value<int>()->default_value(128), "random dataset: mean prompt tokens")(
      "output-len", po::value<int>(),
      "output tokens per request (random dataset: mean, default 128; ShareGPT: replaces the "
      "reply's length)")("random-range-ratio", po::value<double>()->default_value(0.0),
                         "random dataset: lengths drawn from [len*(1-r), len*(1+r)]")(
      "dataset-name", po::value<std::string>(),
      "random or sharegpt (default: sharegpt when "
      "--dataset-path is given)")("dataset-path", po::value<std::string>(), "ShareGPT JSON file")(
      "max-concurrency", po::value<int>(), "requests in flight at most (default: all at once)")(
      "json", "print JSON instead of the report")("save-result", po::value<std::string>(),
                                                  "also write the JSON result to this file");
  options.add(engine_options()).add(loader_options());
  const auto vm = parse_command_line(argc, argv, options);
  if (vm.count("help")) {
    print_command_help(
        "bench throughput",
        "Sends --num-prompts requests through the in-process engine (random token prompts\n"
        "seeded by --seed, or a ShareGPT --dataset-path), at most --max-concurrency in\n"
        "flight, and reports requests/s, output and total tokens/s, KV cache usage sampled\n"
        "every 10 ms, and preemptions. Every request uses ignore_eos, as vLLM's does.",
        options);
    return 0;
  }
  const int num_prompts = vm["num-prompts"].as<int>();
  const int input_len = vm["input-len"].as<int>();
  const double range_ratio = vm["random-range-ratio"].as<double>();
  if (num_prompts <= 0) throw UsageError("--num-prompts must be positive");
  if (input_len <= 0) throw UsageError("--input-len must be positive");
  if (vm.count("output-len") && vm["output-len"].as<int>() <= 0) {
    throw UsageError("--output-len must be positive");
  }
  if (range_ratio < 0 || range_ratio >= 1)
    throw UsageError("--random-range-ratio must be in [0, 1)");
  std::string dataset = vm.count("dataset-name")   ? vm["dataset-name"].as<std::string>()
                        : vm.count("dataset-path") ? "sharegpt"
                                                   : "random";
  if (dataset != "random" && dataset != "sharegpt") {
    throw UsageError("--dataset-name must be random or sharegpt (got '" + dataset + "')");
  }
  if (dataset == "sharegpt" && !vm.count("dataset-path")) {
    throw UsageError("--dataset-name sharegpt needs --dataset-path FILE");
  }
  if (vm.count("max-concurrency") && vm["max-concurrency"].as<int>() <= 0) {
    throw UsageError("--max-concurrency must be positive");
  }
  const uint64_t seed = vm["seed"].as<uint64_t>();

  const EngineConfig config = config_from(vm);
  auto engine = load_engine(config);
  std::vector<bench::BenchRequest> requests;
  if (dataset == "random") {
    const int32_t vocab = std::min<int32_t>(engine->tokenizer().vocab_size(),
                                            static_cast<int32_t>(engine->model().vocab_size));
    requests = bench::random_dataset(num_prompts, input_len,
                                     vm.count("output-len") ? vm["output-len"].as<int>() : 128,
                                     range_ratio, seed, vocab);
  } else {
    bench::ShareGptLimits limits;
    limits.max_total_len = std::min(limits.max_total_len, engine->max_model_len());
    limits.max_prompt_len = std::min(limits.max_prompt_len, engine->max_model_len() - 1);
    requests = bench::sharegpt_dataset(
        vm["dataset-path"].as<std::string>(), num_prompts, engine->tokenizer(),
        vm.count("output-len") ? std::optional<int>(vm["output-len"].as<int>()) : std::nullopt,
        seed, limits);
  }
  bench::ThroughputOptions o;
  o.max_concurrency = vm.count("max-concurrency") ? vm["max-concurrency"].as<int>() : 0;
  o.seed = seed;
  o.dataset =
      dataset == "random"
          ? fmt::format("random (input {}, output {}, range ratio {})", input_len,
                        vm.count("output-len") ? vm["output-len"].as<int>() : 128, range_ratio)
          : "sharegpt " + vm["dataset-path"].as<std::string>();
  std::cerr << "tessera bench: sending " << requests.size() << " requests...\n";
  const auto result = bench::run_throughput(*engine, requests, o);
  engine->stop();
  const auto j = bench::to_json(result);
  if (vm.count("json")) {
    std::cout << j.dump(2) << "\n";
  } else {
    bench::print_report(result, std::cout);
  }
  if (vm.count("save-result")) write_json_file(vm["save-result"].as<std::string>(), j);
  return result.failed == 0 ? 0 : 1;
}

}  // namespace

int run_bench_command(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kBenchUsage;
    return 2;
  }
  const std::string_view which = argv[1];
  if (which == "--help" || which == "-h" || which == "help") {
    std::cout << kBenchUsage;
    return 0;
  }
  // argv[0] of the benchmark is its own name, as every subcommand expects.
  if (which == "latency") return run_latency_command(argc - 1, argv + 1);
  if (which == "throughput") return run_throughput_command(argc - 1, argv + 1);
  if (which == "serve") return run_bench_serve(argc - 1, argv + 1);
  if (which == "perplexity") return run_bench_perplexity(argc - 1, argv + 1);
  throw UsageError("unknown benchmark '" + std::string(which) +
                   "' (latency, throughput, serve or perplexity; see `tessera bench --help`)");
}

}  // namespace tessera::cli
