// `tessera bench serve`: the online benchmark, with `vllm bench serve`'s definitions.
// Prompts come from a random dataset (token ids drawn as vLLM draws them, decoded to text) or
// a ShareGPT-format JSON file; they are sent to a running server's /v1/completions with
// stream=true, at Poisson (or gamma, --burstiness) arrival times, under an optional
// concurrency cap. Metrics: TTFT, TPOT (excluding the first token), ITL and E2EL (mean,
// median, std, chosen percentiles), request, output and total token throughput.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve_client.h"

namespace tessera::tokenizer {
class Tokenizer;
}

namespace tessera::bench {

struct BenchRequest {
  std::string prompt;
  int prompt_len = 0;
  int output_len = 0;
};

// vLLM's RandomDataset: lengths uniform in [len·(1−ratio), len·(1+ratio)], token ids
// (offset + i + j) mod vocab, skipping special tokens, decoded to text.
std::vector<BenchRequest> random_dataset(const tokenizer::Tokenizer& tokenizer, int num_prompts,
                                         int input_len, int output_len, double range_ratio,
                                         uint64_t seed);

// vLLM's ShareGPTDataset: conversations with at least two turns; the first is the prompt, the
// second's token count the output length (unless `fixed_output_len` > 0); pairs with fewer
// than 4 tokens on either side, a prompt over 1024 or a total over 2048 tokens are skipped.
// Shuffled with `seed`, the first `num_prompts` kept.
std::vector<BenchRequest> sharegpt_dataset(const std::string& path,
                                           const tokenizer::Tokenizer& tokenizer, int num_prompts,
                                           int fixed_output_len, uint64_t seed);

struct ServeBenchOptions {
  std::string base_url = "http://127.0.0.1:8000";
  std::string endpoint = "/v1/completions";
  std::string model;  // empty: the server's first model
  std::string api_key;
  double request_rate = std::numeric_limits<double>::infinity();
  double burstiness = 1.0;
  int max_concurrency = 0;  // 0: unlimited
  uint64_t seed = 0;
  bool ignore_eos = false;
  double temperature = 0.0;
  std::vector<double> percentiles = {90, 99};
  int client_threads = 2;
  std::string dataset_name;  // recorded in the result
};

// Runs the benchmark and returns vLLM's result JSON (duration, completed, total_input_tokens,
// …, mean_ttft_ms, median_ttft_ms, std_ttft_ms, p99_ttft_ms, … ttfts, itls, errors).
nlohmann::json run_serve_bench(const ServeBenchOptions& options,
                               const std::vector<BenchRequest>& requests);

// Sends the first `count` requests at once and discards the result, so the runs that follow
// measure a warmer server. A sweep's first run is its lowest load and decides the bracket: on
// the 2-core VM a fresh server's first requests were slow (p99 TTFT 5.8 s at 1 req/s, 0.2 s
// at the same load a few minutes later); with this warm-up 0.9 s. It is not the whole cure:
// two sweeps back to back still found knees of 1.9 and 3.0 req/s (docs/benchmarks.md).
void warm_up_server(const ServeBenchOptions& options, const std::vector<BenchRequest>& requests,
                    size_t count = 16);

// The human-readable table vLLM prints.
std::string format_report(const nlohmann::json& result, const std::vector<double>& percentiles);

// numpy.percentile's default (linear interpolation); 0 for an empty list.
double percentile(std::vector<double> values, double p);

}  // namespace tessera::bench
