#include "sweep_point.h"

#include <iostream>
#include <limits>

#include <fmt/format.h>

namespace tessera::bench {

bool reset_prefix_cache(const ServeBenchOptions& options, std::string* why) {
  try {
    ServeClient client(parse_url(options.base_url), 1, options.api_key);
    // A JSON body makes it a POST (ServeClient sends a GET without one); the server reads none.
    const auto [status, body] =
        client.request("POST", "/reset_prefix_cache", nlohmann::json::object());
    if (status == 200) return true;
    *why = fmt::format("it answered {} to POST /reset_prefix_cache", status);
  } catch (const std::exception& e) {
    *why = fmt::format("POST /reset_prefix_cache failed: {}", e.what());
  }
  return false;
}

SweepPointRunner::SweepPointRunner(ServeBenchOptions options, SweepOptions sweep,
                                   const std::vector<BenchRequest>& requests, double run_seconds,
                                   size_t min_requests)
    : options_(std::move(options)),
      sweep_(sweep),
      requests_(requests),
      run_seconds_(run_seconds),
      min_requests_(min_requests) {}

nlohmann::json SweepPointRunner::operator()(double load) {
  if (reset_works_) {
    std::string why;
    if (!reset_prefix_cache(options_, &why)) {
      reset_works_ = false;
      std::cerr << "  note: the server's prefix cache cannot be reset (" << why
                << "): later runs may reuse the prompts of earlier ones, and read faster\n";
    }
  }
  ServeBenchOptions run = options_;
  if (sweep_.by == SweepBy::kRequestRate) {
    run.request_rate = load;
  } else {
    run.request_rate = std::numeric_limits<double>::infinity();
    run.max_concurrency = static_cast<int>(load);
  }
  const size_t count =
      requests_for_load(sweep_.by, load, run_seconds_, min_requests_, requests_.size());
  auto result = run_serve_bench(
      run, std::vector<BenchRequest>(requests_.begin(),
                                     requests_.begin() + static_cast<std::ptrdiff_t>(count)));
  std::string verdict;
  meets_slo(result, sweep_, &verdict);
  std::cerr << fmt::format(
      "  load {:>8.3f}: {:>8.1f} out tok/s, p99 TTFT {:>9.1f} ms, p99 TPOT {:>8.2f} ms: {}\n", load,
      result.value("output_throughput", 0.0), result.value("p99_ttft_ms", 0.0),
      result.value("p99_tpot_ms", 0.0), verdict);
  return result;
}

}  // namespace tessera::bench
