#include "tune_search.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace tessera::bench {

TuneDimension opt_in_dimension(const std::string& flag, const std::string& key,
                               const std::string& current, const std::string& list,
                               const std::function<bool(const std::string&)>& accepts) {
  TuneDimension dim{key, {current}};
  std::stringstream items(list);
  std::string item;
  while (std::getline(items, item, ',')) {
    if (item.empty()) {
      throw std::invalid_argument("--" + flag + " '" + list +
                                  "': an empty item (write values separated by single commas)");
    }
    if (!accepts(item)) {
      throw std::invalid_argument("--" + flag + ": '" + item + "' is not a " + key + " value");
    }
    if (std::find(dim.values.begin(), dim.values.end(), item) == dim.values.end()) {
      dim.values.push_back(item);
    }
  }
  if (list.empty() || list.back() == ',') {
    throw std::invalid_argument("--" + flag + " '" + list +
                                "': an empty item (write values separated by single commas)");
  }
  return dim;
}

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
