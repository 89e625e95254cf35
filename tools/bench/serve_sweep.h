// The load sweep behind `tessera bench serve --sweep` and `tessera tune`: finds the knee, the
// highest offered load (request rate, or concurrency) at which a server still meets a
// service-level objective on p99 TTFT and p99 TPOT.
//
// Search: double the load from --sweep-start while the SLO holds (or halve it while it does
// not), which brackets the knee between a passing and a failing load in O(log) runs; then
// bisect the bracket until it is narrower than --sweep-tolerance (relative) or the run budget
// is spent. A fixed grid would spend most runs far from the knee and still resolve it only
// to the grid's spacing. Bisection assumes latency grows with load, which holds for a
// queueing server; a noisy run near the knee can move the answer by about one bracket width,
// which is what the tolerance bounds.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sweep_plot.h"

namespace tessera::bench {

enum class SweepBy { kRequestRate, kConcurrency };

struct SweepOptions {
  SweepBy by = SweepBy::kRequestRate;
  double start = 1;        // first load tried
  double max_load = 512;   // never offer more than this
  double min_load = 0.01;  // give up below this (request rate); concurrency stops at 1
  double tolerance = 0.1;  // stop when (fail - pass) / fail <= tolerance
  int max_runs = 12;
  double slo_ttft_p99_ms = 0;  // 0: not part of the SLO
  double slo_tpot_p99_ms = 0;
};

struct SweepRun {
  double load = 0;
  bool meets_slo = false;
  std::string verdict;    // "ok" or why the SLO broke
  nlohmann::json result;  // run_serve_bench's result at this load
};

struct SweepOutcome {
  std::vector<SweepRun> runs;  // in the order they ran
  std::optional<double> knee;  // highest passing load; nullopt when none passed
  std::optional<double> first_failing;
  std::string note;  // how the search ended
};

// Does a benchmark result meet the SLO? `verdict` gets "ok" or the reason.
bool meets_slo(const nlohmann::json& result, const SweepOptions& options, std::string* verdict);

// Runs the search; `measure(load)` runs one benchmark at that load and returns its result.
SweepOutcome run_sweep(const SweepOptions& options,
                       const std::function<nlohmann::json(double load)>& measure);

// How many of the dataset's requests a run at `load` sends: with run_seconds > 0 (request
// rate sweeps), enough to keep offering that rate for run_seconds (so a rate above capacity
// builds a queue instead of being absorbed as one short burst), at least `min_requests` and
// at most `available`; otherwise all of them.
size_t requests_for_load(SweepBy by, double load, double run_seconds, size_t min_requests,
                         size_t available);

const char* to_string(SweepBy by);
std::string load_label(SweepBy by);

// The sweep as JSON: options, knee, and per run the load, the verdict and the summary
// metrics (not the per-request lists).
nlohmann::json sweep_json(const SweepOptions& options, const SweepOutcome& outcome);

// Plot data for render_sweep_svg().
SweepPlot sweep_plot(const SweepOptions& options, const SweepOutcome& outcome,
                     const std::string& title);

}  // namespace tessera::bench
