#include "serve_sweep.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "tessera/check.h"

namespace tessera::bench {

using nlohmann::json;

namespace {

double metric(const json& result, const char* key) {
  return result.contains(key) && result[key].is_number() ? result[key].get<double>() : 0.0;
}

// The load between a passing and a failing one; whole numbers for concurrency.
double midpoint(SweepBy by, double pass, double fail) {
  const double mid = (pass + fail) / 2;
  return by == SweepBy::kConcurrency ? std::floor(mid) : mid;
}

bool narrow_enough(const SweepOptions& o, double pass, double fail) {
  if (o.by == SweepBy::kConcurrency && fail - pass <= 1) return true;
  return (fail - pass) / fail <= o.tolerance;
}

}  // namespace

size_t requests_for_load(SweepBy by, double load, double run_seconds, size_t min_requests,
                         size_t available) {
  if (by != SweepBy::kRequestRate || run_seconds <= 0) return available;
  const auto wanted = static_cast<size_t>(std::ceil(load * run_seconds));
  return std::min(available, std::max(wanted, std::min(min_requests, available)));
}

const char* to_string(SweepBy by) {
  return by == SweepBy::kRequestRate ? "request-rate" : "concurrency";
}

std::string load_label(SweepBy by) {
  return by == SweepBy::kRequestRate ? "request rate (req/s)" : "max concurrency (requests)";
}

bool meets_slo(const json& result, const SweepOptions& o, std::string* verdict) {
  const int failed = result.value("failed", 0);
  if (failed > 0) {
    *verdict = fmt::format("{} requests failed", failed);
    return false;
  }
  if (result.value("completed", 0) == 0) {
    *verdict = "no request completed";
    return false;
  }
  const double ttft = metric(result, "p99_ttft_ms");
  const double tpot = metric(result, "p99_tpot_ms");
  if (o.slo_ttft_p99_ms > 0 && ttft > o.slo_ttft_p99_ms) {
    *verdict = fmt::format("p99 TTFT {:.1f} ms > {} ms", ttft, o.slo_ttft_p99_ms);
    return false;
  }
  if (o.slo_tpot_p99_ms > 0 && tpot > o.slo_tpot_p99_ms) {
    *verdict = fmt::format("p99 TPOT {:.2f} ms > {} ms", tpot, o.slo_tpot_p99_ms);
    return false;
  }
  *verdict = "ok";
  return true;
}

SweepOutcome run_sweep(const SweepOptions& o, const std::function<json(double)>& measure) {
  TSR_CHECK(o.slo_ttft_p99_ms > 0 || o.slo_tpot_p99_ms > 0,
            "a sweep needs an SLO: --slo-ttft-p99-ms and/or --slo-tpot-p99-ms");
  TSR_CHECK(o.start > 0 && o.max_load >= o.start, "--sweep-start must be in (0, --sweep-max]");
  TSR_CHECK(o.tolerance > 0 && o.tolerance < 1, "--sweep-tolerance must be in (0, 1)");
  TSR_CHECK(o.max_runs >= 2, "--sweep-max-runs must be >= 2");
  SweepOutcome out;
  auto run = [&](double load) {
    SweepRun r;
    r.load = load;
    r.result = measure(load);
    r.meets_slo = meets_slo(r.result, o, &r.verdict);
    out.runs.push_back(r);
    return r.meets_slo;
  };
  const double lowest = o.by == SweepBy::kConcurrency ? 1 : o.min_load;
  std::optional<double> pass;
  std::optional<double> fail;
  // Bracket: double up while passing, halve down while failing.
  double load = o.by == SweepBy::kConcurrency ? std::max(1.0, std::round(o.start)) : o.start;
  while (static_cast<int>(out.runs.size()) < o.max_runs) {
    if (run(load)) {
      pass = load;
      if (fail) break;
      if (load >= o.max_load) {
        out.note = fmt::format("the SLO held up to --sweep-max {}", o.max_load);
        break;
      }
      load = std::min(load * 2, o.max_load);
    } else {
      fail = load;
      if (pass) break;
      if (load <= lowest) {
        out.note = fmt::format("the SLO broke even at the lowest load, {}", lowest);
        break;
      }
      load = o.by == SweepBy::kConcurrency ? std::max(1.0, std::floor(load / 2))
                                           : std::max(lowest, load / 2);
    }
  }
  // Bisect the bracket.
  while (pass && fail && !narrow_enough(o, *pass, *fail) &&
         static_cast<int>(out.runs.size()) < o.max_runs) {
    const double mid = midpoint(o.by, *pass, *fail);
    if (mid <= *pass || mid >= *fail) break;
    if (run(mid)) {
      pass = mid;
    } else {
      fail = mid;
    }
  }
  out.knee = pass;
  out.first_failing = fail;
  if (out.note.empty()) {
    out.note = pass && fail
                   ? (narrow_enough(o, *pass, *fail)
                          ? fmt::format("bracketed within {:.0f}%", o.tolerance * 100)
                          : fmt::format("stopped after {} runs (--sweep-max-runs)", o.max_runs))
                   : fmt::format("stopped after {} runs (--sweep-max-runs)", o.max_runs);
  }
  return out;
}

json sweep_json(const SweepOptions& o, const SweepOutcome& outcome) {
  static const char* kSummary[] = {
      "duration",           "completed",         "failed",
      "request_throughput", "output_throughput", "total_token_throughput",
      "mean_ttft_ms",       "median_ttft_ms",    "p99_ttft_ms",
      "mean_tpot_ms",       "median_tpot_ms",    "p99_tpot_ms",
      "mean_itl_ms",        "median_itl_ms",     "p99_itl_ms",
      "median_e2el_ms",     "p99_e2el_ms"};
  json runs = json::array();
  for (const auto& r : outcome.runs) {
    json summary = {{"load", r.load}, {"meets_slo", r.meets_slo}, {"verdict", r.verdict}};
    for (const char* key : kSummary) {
      if (r.result.contains(key)) summary[key] = r.result[key];
    }
    runs.push_back(std::move(summary));
  }
  return {{"by", to_string(o.by)},
          {"slo",
           {{"p99_ttft_ms", o.slo_ttft_p99_ms > 0 ? json(o.slo_ttft_p99_ms) : json()},
            {"p99_tpot_ms", o.slo_tpot_p99_ms > 0 ? json(o.slo_tpot_p99_ms) : json()}}},
          {"start", o.start},
          {"max_load", o.max_load},
          {"tolerance", o.tolerance},
          {"max_runs", o.max_runs},
          {"knee", outcome.knee ? json(*outcome.knee) : json()},
          {"first_failing_load", outcome.first_failing ? json(*outcome.first_failing) : json()},
          {"note", outcome.note},
          {"runs", runs}};
}

SweepPlot sweep_plot(const SweepOptions& o, const SweepOutcome& outcome, const std::string& title) {
  SweepPlot plot;
  plot.title = title;
  plot.load_label = load_label(o.by);
  plot.knee = outcome.knee;
  plot.slo_ttft_p99_ms = o.slo_ttft_p99_ms;
  plot.slo_tpot_p99_ms = o.slo_tpot_p99_ms;
  for (const auto& r : outcome.runs) {
    SweepPoint p;
    p.load = r.load;
    p.meets_slo = r.meets_slo;
    p.output_throughput = metric(r.result, "output_throughput");
    p.ttft_p50_ms = metric(r.result, "median_ttft_ms");
    p.ttft_p99_ms = metric(r.result, "p99_ttft_ms");
    p.tpot_p50_ms = metric(r.result, "median_tpot_ms");
    p.tpot_p99_ms = metric(r.result, "p99_tpot_ms");
    plot.points.push_back(p);
  }
  return plot;
}

}  // namespace tessera::bench
