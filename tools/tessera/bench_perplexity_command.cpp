// `tessera bench perplexity`: flags and report around tools/bench/perplexity (the sliding-
// window recipe and the engine requests live there).
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "command.h"
#include "tessera/check.h"
#include "common_options.h"
#include "engine_options.h"
#include "perplexity.h"
#include "tessera/engine.h"
#include "tessera/tokenizer.h"

namespace po = boost::program_options;

namespace tessera::cli {

namespace {

std::string read_dataset(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TSR_CHECK(in.good(), "--dataset {}: cannot open the file", path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TSR_CHECK(!in.bad(), "--dataset {}: cannot read the file", path);
  TSR_CHECK(!text.empty(), "--dataset {}: the file is empty", path);
  return text;
}

}  // namespace

int run_bench_perplexity(int argc, char** argv) {
  po::options_description options("tessera bench perplexity");
  options.add_options()("help,h", "show this help")("dataset", po::value<std::string>(),
                                                    "UTF-8 text file to score (required)")(
      "context", po::value<int64_t>(),
      "tokens per window (default: min(1024, the longest prompt the engine takes))")(
      "stride", po::value<int64_t>(), "tokens between window starts (default: context / 2)")(
      "json", "print JSON instead of the report")("output-json", po::value<std::string>(),
                                                  "also write the JSON result to this file");
  options.add(engine_options()).add(loader_options());
  const auto vm = parse_command_line(argc, argv, options);
  if (vm.count("help")) {
    print_command_help(
        "bench perplexity",
        "Perplexity of the model over a text file: the file is tokenized as plain text (no\n"
        "chat template; the model's BOS when its tokenizer adds one), windows of --context\n"
        "tokens start every --stride tokens, and each window scores only the tokens no earlier\n"
        "window scored (Hugging Face's sliding-window recipe). Windows run as concurrent\n"
        "requests with prompt logprobs. Compare weight formats with --quantization\n"
        "(none: GGUF blocks dequantized to f32; int8, int4, fp8) and --dtype.",
        options);
    return 0;
  }
  if (!vm.count("dataset")) throw UsageError("--dataset FILE is required");
  const std::string dataset = vm["dataset"].as<std::string>();
  const bool context_given = vm.count("context") != 0;
  const bool stride_given = vm.count("stride") != 0;
  if (context_given && vm["context"].as<int64_t>() < 2) {
    throw UsageError(
        fmt::format("--context must be at least 2, got {}", vm["context"].as<int64_t>()));
  }
  if (stride_given && vm["stride"].as<int64_t>() < 1) {
    throw UsageError(
        fmt::format("--stride must be at least 1, got {}", vm["stride"].as<int64_t>()));
  }
  if (context_given && stride_given && vm["stride"].as<int64_t>() > vm["context"].as<int64_t>()) {
    throw UsageError(fmt::format("--stride ({}) must not exceed --context ({})",
                                 vm["stride"].as<int64_t>(), vm["context"].as<int64_t>()));
  }
  // Before loading the model: a missing or empty file fails at once.
  const std::string text = read_dataset(dataset);

  bool is_default = false;
  const EngineConfig config = engine_config_from(vm, &is_default);
  if (is_default) std::cerr << default_model().banner << ".\n";
  LoadProgressBar progress;
  auto engine = Engine::create(config, std::ref(progress));
  // A window is a prompt with one generated token after it: it must leave that room.
  const int64_t longest = engine->request_limits().context() - 1;
  bench::PerplexityOptions o;
  o.dataset = dataset;
  o.context = context_given ? vm["context"].as<int64_t>() : std::min<int64_t>(1024, longest);
  if (o.context > longest) {
    throw UsageError(fmt::format(
        "--context {} is longer than the longest prompt the engine takes ({}: --max-model-len "
        "or the KV cache, less one generated token)",
        o.context, longest));
  }
  o.stride = stride_given ? vm["stride"].as<int64_t>() : std::max<int64_t>(1, o.context / 2);
  if (o.stride > o.context) {
    throw UsageError(
        fmt::format("--stride ({}) must not exceed the context ({})", o.stride, o.context));
  }
  tokenizer::EncodeOptions encode;
  encode.add_special_tokens = true;  // the model's BOS, where its tokenizer adds one
  encode.parse_special = false;      // the text is data: "<|im_start|>" in it is plain text
  const std::vector<int32_t> ids = engine->tokenizer().encode(text, encode);
  TSR_CHECK(ids.size() >= 2, "--dataset {}: {} token(s); perplexity needs at least 2", dataset,
            ids.size());
  std::cerr << fmt::format("tessera bench: scoring {} tokens of {}...\n", ids.size(), dataset);
  const auto result = bench::run_perplexity(*engine, ids, o);
  engine->stop();
  const auto j = bench::to_json(result);
  if (vm.count("json")) {
    std::cout << j.dump(2) << "\n";
  } else {
    bench::print_report(result, std::cout);
  }
  if (vm.count("output-json")) {
    const std::string path = vm["output-json"].as<std::string>();
    std::ofstream out(path);
    out << j.dump(2) << "\n";
    TSR_CHECK(out.good(), "cannot write {}", path);
  }
  return 0;
}

}  // namespace tessera::cli
