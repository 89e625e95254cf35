// The load sweep (tools/bench/serve_sweep.h) against a synthetic server whose p99 latency
// grows with load like a queue (M/M/1-like: TTFT ∝ 1 / (capacity − load)), so the true knee
// is known in closed form; and the sweep's SVG plot against a golden file.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "common/check.h"
#include "serve_sweep.h"
#include "sweep_plot.h"
#include "tune_search.h"

using namespace tessera::bench;
using nlohmann::json;

namespace {

// p99 TTFT of the synthetic server at `load`: 50 ms unloaded, infinite at `capacity`.
double synthetic_ttft_ms(double load, double capacity) {
  return load >= capacity ? 1e9 : 50.0 * capacity / (capacity - load);
}

json synthetic_result(double load, double capacity) {
  const double ttft = synthetic_ttft_ms(load, capacity);
  return {{"completed", 100},
          {"failed", 0},
          {"output_throughput", 10 * std::min(load, capacity)},
          {"median_ttft_ms", ttft / 2},
          {"p99_ttft_ms", ttft},
          {"median_tpot_ms", 10.0},
          {"p99_tpot_ms", 12.0}};
}

// The load at which synthetic_ttft_ms reaches `slo`: capacity · (1 − 50 / slo).
double true_knee(double capacity, double slo) {
  return capacity * (1 - 50.0 / slo);
}

}  // namespace

TEST(ServeSweep, RequestRateKneeWithinToleranceInFewRuns) {
  for (double capacity : {0.7, 3.0, 11.0, 40.0, 170.0}) {
    SweepOptions o;
    o.slo_ttft_p99_ms = 500;
    o.tolerance = 0.05;
    o.max_runs = 20;
    const auto outcome =
        run_sweep(o, [&](double load) { return synthetic_result(load, capacity); });
    const double knee = true_knee(capacity, o.slo_ttft_p99_ms);
    ASSERT_TRUE(outcome.knee.has_value()) << capacity;
    EXPECT_LE(*outcome.knee, knee) << capacity;  // the knee found always meets the SLO
    EXPECT_GE(*outcome.knee, knee * (1 - o.tolerance) - 1e-9) << capacity;
    // Bracketing: about log2(range) doublings plus log2(1 / tolerance) bisections.
    EXPECT_LE(outcome.runs.size(), 14u) << capacity;
    EXPECT_NE(outcome.note.find("bracketed"), std::string::npos) << outcome.note;
  }
}

TEST(ServeSweep, ConcurrencyKneeIsExact) {
  SweepOptions o;
  o.by = SweepBy::kConcurrency;
  o.slo_ttft_p99_ms = 1000;
  o.start = 4;
  o.max_runs = 20;
  o.tolerance = 0.01;  // finer than one request at this load: bisect to neighbours
  // Concurrency c passes while c <= 37.
  const auto outcome = run_sweep(o, [](double c) {
    return json{{"completed", 10}, {"failed", 0}, {"p99_ttft_ms", c <= 37 ? 100.0 : 5000.0}};
  });
  ASSERT_TRUE(outcome.knee.has_value());
  EXPECT_EQ(*outcome.knee, 37);
  EXPECT_EQ(*outcome.first_failing, 38);
  for (const auto& run : outcome.runs) EXPECT_EQ(run.load, std::floor(run.load));
}

TEST(ServeSweep, EdgesAndVerdicts) {
  SweepOptions o;
  o.slo_tpot_p99_ms = 20;
  o.max_load = 64;
  // Never breaks: stops at --sweep-max.
  auto outcome = run_sweep(o, [](double) {
    return json{{"completed", 1}, {"failed", 0}, {"p99_tpot_ms", 5.0}};
  });
  EXPECT_EQ(outcome.knee, 64);
  EXPECT_NE(outcome.note.find("--sweep-max"), std::string::npos);
  // Always breaks: halves down to the lowest load, no knee.
  outcome = run_sweep(o, [](double) {
    return json{{"completed", 1}, {"failed", 0}, {"p99_tpot_ms", 50.0}};
  });
  EXPECT_FALSE(outcome.knee.has_value());
  EXPECT_NE(outcome.runs.back().verdict.find("p99 TPOT"), std::string::npos);
  // Failed requests break the SLO whatever the latency.
  std::string verdict;
  EXPECT_FALSE(meets_slo({{"completed", 9}, {"failed", 1}, {"p99_tpot_ms", 1.0}}, o, &verdict));
  EXPECT_EQ(verdict, "1 requests failed");
  // No SLO at all is a usage error.
  EXPECT_THROW(run_sweep(SweepOptions{}, [](double) { return json::object(); }), tessera::Error);
}

TEST(ServeSweep, JsonSummarizesEveryRun) {
  SweepOptions o;
  o.slo_ttft_p99_ms = 500;
  const auto outcome = run_sweep(o, [](double load) { return synthetic_result(load, 10); });
  const json j = sweep_json(o, outcome);
  EXPECT_EQ(j["by"], "request-rate");
  EXPECT_EQ(j["knee"].get<double>(), *outcome.knee);
  ASSERT_EQ(j["runs"].size(), outcome.runs.size());
  EXPECT_TRUE(j["runs"][0].contains("p99_ttft_ms"));
  EXPECT_TRUE(j["slo"]["p99_tpot_ms"].is_null());
}

// The SVG of a fixed sweep, byte for byte. Regenerate after an intended change with
// TESSERA_UPDATE_GOLDENS=1 and review the picture.
TEST(SweepPlot, MatchesGolden) {
  SweepPlot plot;
  plot.title = "tiny-qwen3 <sweep> & SLO";
  plot.load_label = load_label(SweepBy::kRequestRate);
  plot.slo_ttft_p99_ms = 500;
  plot.slo_tpot_p99_ms = 40;
  plot.knee = 6.5;
  const double loads[] = {8, 1, 2, 4, 6, 7, 6.5};  // in run order, as a sweep produces them
  for (double load : loads) {
    SweepPoint p;
    p.load = load;
    p.output_throughput = 95 * std::min(load, 7.0);
    p.ttft_p99_ms = synthetic_ttft_ms(load, 9.0) * 1.4;
    p.ttft_p50_ms = p.ttft_p99_ms / 2;
    p.tpot_p99_ms = 20 + 3 * load;
    p.tpot_p50_ms = 15 + 2 * load;
    p.meets_slo = load <= 6.5;
    plot.points.push_back(p);
  }
  const std::string svg = render_sweep_svg(plot);
  EXPECT_TRUE(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_NE(svg.find("&lt;sweep&gt; &amp; SLO"), std::string::npos);
  const std::string golden_path = std::string(TESSERA_TEST_DATA_DIR) + "/bench/sweep_plot.svg";
  if (std::getenv("TESSERA_UPDATE_GOLDENS") != nullptr) {
    std::ofstream(golden_path) << svg;
  }
  std::ifstream in(golden_path);
  ASSERT_TRUE(in.good()) << golden_path;
  std::stringstream golden;
  golden << in.rdbuf();
  EXPECT_EQ(svg, golden.str()) << "the plot changed; see the test's comment";
}

namespace {

// A synthetic engine for the tuner's search: the knee is a sum of independent effects of
// max-num-seqs and block-size; one value of "broken" does not fit and is skipped.
Evaluation synthetic_evaluation(const Settings& s) {
  Evaluation e;
  e.settings = s;
  if (s.at("broken") == "yes") {
    e.note = "does not fit";
    return e;
  }
  e.ran = true;
  const double seqs = std::stod(s.at("max-num-seqs"));
  e.knee = 10 + (seqs == 64 ? 8 : seqs == 256 ? 2 : 0) + (s.at("block-size") == "32" ? 3 : 0);
  e.throughput = 100 * e.knee;
  return e;
}

}  // namespace

TEST(TuneSearch, CoordinateDescentFindsTheBestSeparableSetting) {
  const Settings start = {{"max-num-seqs", "256"}, {"block-size", "16"}, {"broken", "no"}};
  const std::vector<TuneDimension> dims = {{"max-num-seqs", {"16", "64", "256"}},
                                           {"broken", {"yes", "no"}},
                                           {"block-size", {"16", "32"}}};
  int evaluations = 0;
  const auto outcome = coordinate_descent(
      start, dims,
      [&](const Settings& s) {
        ++evaluations;
        return synthetic_evaluation(s);
      },
      [] { return true; });
  const auto& best = outcome.evaluations[outcome.best];
  EXPECT_EQ(best.settings.at("max-num-seqs"), "64");
  EXPECT_EQ(best.settings.at("block-size"), "32");
  EXPECT_EQ(best.knee, 21);
  // Pass 1: start, 16, 64, broken=yes (skipped), block 32 (5). Pass 2, from (64, 32): 16, 256
  // and broken=yes in the new context (3), nothing better, so it stops; no setting twice.
  EXPECT_EQ(evaluations, 8);
  size_t skipped = 0;
  for (const auto& e : outcome.evaluations) skipped += e.ran ? 0 : 1;
  EXPECT_GE(skipped, 1u);
}

TEST(TuneSearch, StopsWhenTheBudgetIsSpentAndIgnoresNoise) {
  const Settings start = {{"max-num-seqs", "256"}, {"block-size", "16"}, {"broken", "no"}};
  int calls = 0;
  const auto outcome = coordinate_descent(
      start, {{"max-num-seqs", {"16", "64"}}, {"block-size", {"32"}}},
      [&](const Settings& s) { return synthetic_evaluation(s); },
      [&] { return ++calls <= 1; });  // room for one candidate after the start
  EXPECT_EQ(outcome.evaluations.size(), 2u);
  // A 3% better knee is noise at min_gain 5%; a 10% better one is not.
  Evaluation a, b;
  a.ran = b.ran = true;
  b.knee = 100;
  a.knee = 103;
  EXPECT_FALSE(better(a, b, 0.05));
  a.knee = 110;
  EXPECT_TRUE(better(a, b, 0.05));
  a.knee = 101;
  a.throughput = 200;
  b.throughput = 100;
  EXPECT_TRUE(better(a, b, 0.05));  // tie on the knee, clearly more throughput
}

TEST(TuneSearch, OptInDimensionStartsFromTheCurrentValueAndRefusesBadItems) {
  const auto accepts = [](const std::string& v) { return v != "int3"; };
  const auto dim =
      opt_in_dimension("tune-quantization", "quantization", "none", "int8,int4,int8,none", accepts);
  EXPECT_EQ(dim.key, "quantization");
  EXPECT_EQ(dim.values, (std::vector<std::string>{"none", "int8", "int4"}));
  for (const char* bad : {"", "int8,", ",int8", "int8,,int4"}) {
    EXPECT_THROW(opt_in_dimension("tune-quantization", "quantization", "none", bad, accepts),
                 std::invalid_argument)
        << "'" << bad << "'";
  }
  try {
    opt_in_dimension("tune-quantization", "quantization", "none", "int8,int3", accepts);
    FAIL() << "int3 was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'int3' is not a quantization value"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("--tune-quantization"), std::string::npos);
  }
  // The search tries the opted-in values like any other dimension.
  const Settings start = {{"quantization", "none"}, {"max-num-seqs", "256"}};
  const auto outcome = coordinate_descent(
      start, {dim},
      [](const Settings& s) {
        Evaluation e;
        e.settings = s;
        e.ran = true;
        e.knee = s.at("quantization") == "int4" ? 20 : s.at("quantization") == "int8" ? 15 : 10;
        return e;
      },
      [] { return true; });
  EXPECT_EQ(outcome.evaluations[outcome.best].settings.at("quantization"), "int4");
}

TEST(ServeSweep, RunLengthFollowsTheOfferedRate) {
  // 10 s at 4 req/s = 40 requests; never under the minimum or over what the dataset holds.
  EXPECT_EQ(requests_for_load(SweepBy::kRequestRate, 4, 10, 20, 400), 40u);
  EXPECT_EQ(requests_for_load(SweepBy::kRequestRate, 0.5, 10, 20, 400), 20u);
  EXPECT_EQ(requests_for_load(SweepBy::kRequestRate, 100, 10, 20, 400), 400u);
  EXPECT_EQ(requests_for_load(SweepBy::kRequestRate, 4, 10, 20, 8), 8u);
  // Off (0 s) and for concurrency sweeps: every request, every run.
  EXPECT_EQ(requests_for_load(SweepBy::kRequestRate, 4, 0, 20, 400), 400u);
  EXPECT_EQ(requests_for_load(SweepBy::kConcurrency, 4, 10, 20, 400), 400u);
}
