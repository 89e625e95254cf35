// `tessera bench throughput`: a set of requests through the in-process Engine with at most
// `max_concurrency` in flight (all at once by default, as vLLM's throughput benchmark sends
// them), reporting requests/s, output and total tokens/s, KV cache usage sampled every
// ~10 ms while requests run, and the preemptions (swap and recompute) it caused.
// Requests use ignore_eos with max_tokens = their output length and temperature 1 (vLLM's
// settings), so every completed request produces exactly its output length.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "throughput_requests.h"

namespace tessera {
class Engine;
}

namespace tessera::bench {

struct ThroughputOptions {
  int max_concurrency = 0;  // 0: every request at once
  uint64_t seed = 0;        // per-request sampling seeds derive from it
  double kv_sample_interval_s = 0.01;
  bool warmup = true;              // one short request before the clock starts
  std::string dataset = "random";  // for the report
};

struct ThroughputResult {
  std::string model;
  std::string dtype;
  std::string quantization;
  std::string device;
  std::string dataset;
  int num_requests = 0;
  int max_concurrency = 0;  // effective (num_requests when unlimited)
  int completed = 0;
  int failed = 0;
  std::string first_error;
  double elapsed_s = 0;
  uint64_t prompt_tokens = 0;  // completed requests
  uint64_t output_tokens = 0;
  uint64_t expected_output_tokens = 0;  // sum of the requests' output lengths
  double requests_per_s = 0;
  double output_tok_s = 0;
  double total_tok_s = 0;  // (prompt + output) / elapsed
  double mean_ttft_s = 0;
  double mean_tpot_s = 0;    // (e2e - ttft) / (output - 1), requests with > 1 token
  double mean_kv_usage = 0;  // 0..1
  double max_kv_usage = 0;
  int kv_samples = 0;
  double mean_running = 0;  // sampled like kv_usage
  uint64_t preemptions_swap = 0;
  uint64_t preemptions_recompute = 0;
  uint64_t recomputed_tokens = 0;
  uint64_t prefix_cache_hits = 0;     // tokens
  uint64_t prefix_cache_queries = 0;  // tokens
  uint64_t steps = 0;
};

// Starts the engine (if not running), sends every request, waits for all. Requests that
// the engine refuses or that fail count as failed (first_error says why); the run goes on.
ThroughputResult run_throughput(Engine& engine, const std::vector<BenchRequest>& requests,
                                const ThroughputOptions& options);

nlohmann::json to_json(const ThroughputResult& result);
void print_report(const ThroughputResult& result, std::ostream& out);

}  // namespace tessera::bench
