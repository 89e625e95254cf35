#include "tune_search.h"

#include <algorithm>

namespace tessera::bench {

bool better(const Evaluation& a, const Evaluation& b, double min_gain) {
  if (!a.ran) return false;
  if (!b.ran) return true;
  if (a.knee > b.knee * (1 + min_gain)) return true;
  if (a.knee < b.knee * (1 - min_gain)) return false;
  return a.throughput > b.throughput * (1 + min_gain);
}

TuneOutcome coordinate_descent(const Settings& start, const std::vector<TuneDimension>& dims,
                               const std::function<Evaluation(const Settings&)>& evaluate,
                               const std::function<bool()>& has_budget, double min_gain,
                               int max_passes) {
  TuneOutcome out;
  out.evaluations.push_back(evaluate(start));
  out.best = 0;
  std::vector<Settings> tried = {start};
  for (int pass = 0; pass < max_passes; ++pass) {
    bool improved = false;
    ++out.passes;
    for (const auto& dim : dims) {
      for (const auto& value : dim.values) {
        Settings candidate = out.evaluations[out.best].settings;
        candidate[dim.key] = value;
        if (std::find(tried.begin(), tried.end(), candidate) != tried.end()) continue;
        if (!has_budget()) return out;
        tried.push_back(candidate);
        out.evaluations.push_back(evaluate(candidate));
        if (better(out.evaluations.back(), out.evaluations[out.best], min_gain)) {
          out.best = out.evaluations.size() - 1;
          improved = true;
        }
      }
    }
    if (!improved) break;
  }
  return out;
}

}  // namespace tessera::bench
