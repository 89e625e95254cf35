// One run of a load sweep against a live server, shared by `tessera bench serve --sweep` and
// `tessera tune`: reset the server's prefix cache, send the run's requests at the load, print
// one line.
//
// Why the reset: every run of a sweep sends the first requests of the same dataset, and they
// fit in the KV cache. With the cache kept, later runs skipped most of their prefill, so a
// run's latency depended on which runs came before it: two back-to-back sweeps of the default
// model found knees of 3.75 and 7.5 req/s (docs/benchmarks.md). vLLM's benchmarks reset the
// cache the same way, through the same route.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve_bench.h"
#include "serve_sweep.h"

namespace tessera::bench {

// POST /reset_prefix_cache. False, with the reason in `why`, when the server has no such
// route (llama-server; vLLM outside its dev mode) or refused.
bool reset_prefix_cache(const ServeBenchOptions& options, std::string* why);

class SweepPointRunner {
 public:
  // `run_seconds` and `min_requests`: see requests_for_load().
  SweepPointRunner(ServeBenchOptions options, SweepOptions sweep,
                   const std::vector<BenchRequest>& requests, double run_seconds,
                   size_t min_requests);

  // The run at `load` (a request rate or a concurrency, as the sweep says): the result of
  // run_serve_bench. A server that cannot reset its cache is named once on stderr, and the
  // runs go on without the reset.
  nlohmann::json operator()(double load);

 private:
  ServeBenchOptions options_;
  SweepOptions sweep_;
  const std::vector<BenchRequest>& requests_;
  double run_seconds_;
  size_t min_requests_;
  bool reset_works_ = true;
};

}  // namespace tessera::bench
