// The search of `tessera tune`: coordinate descent over engine settings, each candidate
// scored by a load sweep (its knee: the highest request rate meeting the SLO).
//
// Why coordinate descent: one evaluation is a server start plus a sweep (a minute or more),
// so a 30-minute budget buys some 20 evaluations — too few to fit the surrogate model of a
// Bayesian optimizer over six dimensions, and each score is noisy. The engine knobs act
// mostly independently near the defaults (batch limits, then prefill chunking, then cache
// layout), so changing one at a time from the best so far reaches a good setting in about
// sum(values) evaluations, every result stays explainable as "this knob, this value, this
// knee", and a change must beat the best by `min_gain` (default 5%) to be kept, so noise
// does not walk the search around. A second pass runs when the first changed something and
// the budget allows.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tessera::bench {

using Settings = std::map<std::string, std::string>;  // option name -> value, as in --config

struct TuneDimension {
  std::string key;  // "max-num-seqs"
  std::vector<std::string> values;
};

struct Evaluation {
  Settings settings;
  bool ran = false;         // false: skipped (does not fit, failed to start, no budget)
  std::string note;         // why skipped, or how the sweep ended
  double knee = 0;          // req/s (or concurrency); 0 when no load met the SLO
  double throughput = 0;    // output tok/s at the knee, the tie-breaker
  std::string result_path;  // the sweep's JSON, when saved
};

struct TuneOutcome {
  std::vector<Evaluation> evaluations;  // in the order they ran
  size_t best = 0;                      // index into evaluations
  int passes = 0;
};

// A dimension the user opted into with a comma-separated list, such as `tessera tune
// --tune-quantization int8,int4`: `current` (the value the run starts from) first, then the
// listed values in order, without repeats. Settings that change the model's numerics (dtype,
// weight quantization) are tuned only this way, because a faster but less accurate model is
// the user's trade to make, not the tuner's. Throws std::invalid_argument naming `flag` when
// the list has an empty item or a value `accepts` refuses.
TuneDimension opt_in_dimension(const std::string& flag, const std::string& key,
                               const std::string& current, const std::string& list,
                               const std::function<bool(const std::string&)>& accepts);

// True when `a` beats `b` by more than `min_gain` (relative) on the knee, or ties on the
// knee within it and beats it by more than `min_gain` on throughput.
bool better(const Evaluation& a, const Evaluation& b, double min_gain);

// Runs the descent from `start`. `evaluate` scores one setting; `has_budget` says whether
// another evaluation may start. The start is always evaluated.
TuneOutcome coordinate_descent(const Settings& start, const std::vector<TuneDimension>& dims,
                               const std::function<Evaluation(const Settings&)>& evaluate,
                               const std::function<bool()>& has_budget, double min_gain = 0.05,
                               int max_passes = 2);

}  // namespace tessera::bench
