// Public: what Engine::metrics() returns. Counters, gauges and histograms the engine keeps for
// the server's /metrics and the benchmarks (names and meanings follow vLLM's `vllm:` metrics;
// see docs/metrics.md). Thread-safe snapshots.
#pragma once

#include <cstdint>
#include <vector>

namespace tessera::engine {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // counts()[i] observations <= bounds()[i] (not cumulative); the last entry is +Inf.
  const std::vector<uint64_t>& counts() const { return counts_; }
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

struct EngineMetrics {
  // Gauges.
  int num_running = 0;
  int num_waiting = 0;
  int num_swapped = 0;
  double kv_usage = 0;  // 0..1
  int64_t num_kv_blocks = 0;
  int64_t swap_blocks_in_use = 0;  // host swap blocks holding a swapped-out request's KV
  // Counters.
  uint64_t prompt_tokens = 0;
  uint64_t generation_tokens = 0;
  uint64_t prefix_cache_queries = 0;  // tokens
  uint64_t prefix_cache_hits = 0;     // tokens
  uint64_t preemptions_swap = 0;
  uint64_t preemptions_recompute = 0;
  uint64_t recomputed_tokens = 0;
  uint64_t swapped_out_bytes = 0;
  uint64_t swapped_in_bytes = 0;
  uint64_t requests_finished_stop = 0;
  uint64_t requests_finished_length = 0;
  uint64_t requests_aborted = 0;
  uint64_t requests_aborted_disconnect = 0;
  uint64_t requests_failed = 0;
  uint64_t steps = 0;
  // Tensor parallelism: wall time of the ranks' decode-step forward passes and, within it,
  // of rank 0's collectives (all-reduce, all-gather), and the passes counted.
  double tp_decode_forward_seconds = 0;
  double tp_decode_collective_seconds = 0;
  uint64_t tp_decode_forwards = 0;
  // Histograms, seconds.
  Histogram time_to_first_token{{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                                 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0}};
  Histogram inter_token_latency{{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
                                 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0}};
  Histogram e2e_request_latency{{0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
                                 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0}};
  Histogram request_queue_time{{0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
                                40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0}};
};

}  // namespace tessera::engine
