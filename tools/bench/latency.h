// `tessera bench latency`: prefill and decode speed of one batch through the Engine, as a
// user's requests go (add_request on a running engine, outputs read from the channels),
// beside the decode roofline: memory bandwidth / weight bytes read per decoded token.
//
// One iteration sends `batch_size` requests of `input_len` fresh random tokens (never a
// prefix-cache hit) with max_tokens = output_len, ignore_eos and greedy sampling:
//   prefill = time from submitting until every request has its first token (TTFT: the
//             prompt's forward pass plus one sample, what a max_tokens 1 request costs)
//   decode  = total - prefill, for output_len - 1 tokens per request.
// Batch 1 is always measured; --batch-size B > 1 adds a run at B.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "memory_bandwidth.h"
#include "tessera/engine.h"

namespace tessera::bench {

struct LatencyOptions {
  int input_len = 32;
  int output_len = 128;
  int batch_size = 1;
  int num_iters = 3;
  int num_iters_warmup = 1;
  uint64_t seed = 0;
};

struct LatencyRun {
  int batch_size = 0;
  std::vector<double> prefill_s;  // one per timed iteration
  std::vector<double> decode_s;   // output_len - 1 tokens per request
  std::vector<double> total_s;
  // From the medians of the iterations.
  double prefill_tok_s = 0;
  // Prefill FLOP/s: 2 x (linear multiply-adds of every prompt token + attention's over every
  // causal (query, key) pair) / the median prefill time, and its fraction of the same-run
  // GEMM peak (LatencyResult::gemm); 0 without the figures.
  double prefill_gflops = 0;
  double prefill_gemm_fraction = 0;
  double decode_ms_per_token = 0;  // one decode step (each request gets a token)
  double decode_tok_s = 0;         // batch_size tokens per step
  // Weights read once per step: batch_size * bandwidth / weight_bytes_per_token.
  double roofline_tok_s = 0;
  double roofline_fraction = 0;
  // The same with the KV cache each row reads at the mean decode context length added.
  double roofline_with_kv_tok_s = 0;
  // The per-step cost beyond moving the bytes: decode time per step minus the time the
  // weights and KV cache it reads take at the same-run bandwidth (roofline_with_kv). A
  // memory-bound engine with no fixed cost per step (thread wake-ups, allocations, host
  // work between ops, sampling) has this near 0; on a tiny model it is almost all of a step.
  // 0 when there is no decode or no bandwidth figure.
  double step_overhead_ms = 0;
  // Tensor parallelism: one decode step's wall time over all ranks, and the part of it rank
  // 0 spent in collectives (all-reduce, all-gather); the rest is compute. Means over the
  // timed iterations' decode steps; 0 without tensor parallelism.
  double tp_decode_step_ms = 0;
  double tp_collective_ms = 0;
};

struct LatencyResult {
  std::string model;
  std::string architecture;
  std::string dtype;
  std::string quantization;
  std::string device;
  int tensor_parallel_size = 1;
  uint64_t weight_bytes_per_token = 0;
  uint64_t linear_macs_per_token = 0;    // ModelSummary's
  uint64_t attention_macs_per_pair = 0;  // ModelSummary's
  uint64_t kv_bytes_per_token = 0;       // all layers
  LatencyOptions options;
  BandwidthResult bandwidth;
  // The model's first gate/up GEMM timed alone with input_len rows before the runs
  // (Engine::calibrate_prefill_gemm): the peak prefill FLOP/s is compared with.
  std::optional<GemmCalibration> gemm;
  std::vector<LatencyRun> runs;  // batch 1 first
};

// Starts the engine (if not running) and runs warm-up and timed iterations for batch 1 and,
// when larger, options.batch_size. Throws tessera::Error for bad options or a request that
// fails or ends early.
LatencyResult run_latency(Engine& engine, const LatencyOptions& options,
                          const BandwidthResult& bandwidth);

nlohmann::json to_json(const LatencyResult& result);
void print_table(const LatencyResult& result, std::ostream& out);

}  // namespace tessera::bench
