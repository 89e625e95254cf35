// Per-row sampling with exactly plugin.h's semantics: penalties over the row's history,
// temperature (greedy below 1e-5, lowest index on ties), top-k, then top-p over the top-k
// survivors' renormalised distribution, then min-p; a draw from the survivors with a
// counter-based generator keyed by (seed, step) only, so the same request gets the same
// token whatever its row in the batch. Logprobs come from the penalised logits before
// temperature. An absent per-row tensor means "off": temperature 1, top_k 0, top_p 1,
// min_p 0, no penalties, seed 0.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu_internal.h"
#include "ops.h"
#include "parallel.h"
#include "op_checks.h"
#include "tensor_check.h"

namespace tsr::cpu::ops {
namespace {

constexpr float kGreedyTemperature = 1e-5f;
constexpr uint32_t kSeen = 0x80000000u;

struct RowParams {
  const float* temperature = nullptr;
  const int32_t* top_k = nullptr;
  const float* top_p = nullptr;
  const float* min_p = nullptr;
  const float* repetition = nullptr;
  const float* presence = nullptr;
  const float* frequency = nullptr;
  const uint64_t* seeds = nullptr;
  const int32_t* history = nullptr;
  const int32_t* offsets = nullptr;
  const int32_t* prompt_lens = nullptr;
};

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A uniform double in [0, 1) that depends only on (seed, step).
double uniform(uint64_t seed, uint64_t step) {
  const uint64_t bits = splitmix64(splitmix64(seed) ^ splitmix64(step ^ 0x5851f42d4c957f2dull));
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

// Orders token ids by value, best first, lower id on ties.
struct BetterThan {
  const float* v;
  bool operator()(int32_t a, int32_t b) const { return v[a] > v[b] || (v[a] == v[b] && a < b); }
};

// Per-thread scratch of the sampler, all vocabulary-sized: sized on every pool thread at the
// first call with a vocabulary (presize_scratch), so that no row's sampling allocates on
// whichever thread the dynamic schedule hands it to.
thread_local std::vector<uint32_t> t_counts;  // penalties: occurrences + the kSeen mark
thread_local std::vector<int32_t> t_ids;      // draw: top-k / top-p candidates
thread_local std::vector<int32_t> t_order;    // top logprobs

void size_scratch(int64_t vocab) {
  const auto n = static_cast<size_t>(vocab);
  if (t_counts.size() < n) t_counts.resize(n, 0);
  if (t_ids.capacity() < n) t_ids.reserve(n);
  if (t_order.size() < n) t_order.resize(n);
  scratch_f32(0, n);
  scratch_f32(1, n);
}

void presize_scratch(int64_t vocab) {
  // The largest vocabulary sized on every thread so far (0: none).
  static std::atomic<int64_t> sized{0};
  if (sized.load(std::memory_order_acquire) >= vocab) return;
  if (run_on_every_thread([vocab] { size_scratch(vocab); })) {
    int64_t seen = sized.load();
    while (seen < vocab && !sized.compare_exchange_weak(seen, vocab)) {
    }
  }
}

void apply_penalties(const RowParams& rp, int64_t row, float* l) {
  if (rp.offsets == nullptr) return;
  const float rep = rp.repetition != nullptr ? rp.repetition[row] : 1.0f;
  const float freq = rp.frequency != nullptr ? rp.frequency[row] : 0.0f;
  const float pres = rp.presence != nullptr ? rp.presence[row] : 0.0f;
  if (rep == 1.0f && freq == 0.0f && pres == 0.0f) return;
  const int32_t* begin = rp.history + rp.offsets[row];
  const int32_t* end = rp.history + rp.offsets[row + 1];
  const int32_t* output = begin + rp.prompt_lens[row];
  std::vector<uint32_t>& counts = t_counts;  // vocabulary-sized (size_scratch); ids checked
  for (const int32_t* t = output; t < end; ++t) ++counts[static_cast<size_t>(*t)];
  for (const int32_t* t = begin; t < end; ++t) {
    uint32_t& c = counts[static_cast<size_t>(*t)];
    if (c & kSeen) continue;
    c |= kSeen;
    float& v = l[*t];
    if (rep != 1.0f) v = v > 0.0f ? v / rep : v * rep;
    const uint32_t n = c & ~kSeen;
    if (n > 0) v -= freq * static_cast<float>(n) + pres;
  }
  for (const int32_t* t = begin; t < end; ++t) counts[static_cast<size_t>(*t)] = 0;
}

int32_t argmax(const float* l, int64_t v) {
  int32_t best = 0;
  for (int64_t i = 1; i < v; ++i) {
    if (l[i] > l[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

// Draws from softmax(w) restricted to top-k / top-p / min-p survivors.
int32_t draw(const float* w, int64_t v, int64_t top_k, float top_p, float min_p, double u) {
  std::vector<int32_t>& ids = t_ids;
  const bool k_on = top_k > 0 && top_k < v;
  const bool p_on = top_p < 1.0f;
  const float max_w = w[argmax(w, v)];
  if (!(max_w > -std::numeric_limits<float>::infinity())) return argmax(w, v);
  const double min_log = min_p > 0.0f ? std::log(static_cast<double>(min_p)) : -INFINITY;
  ids.clear();
  if (k_on || p_on) {
    ids.resize(static_cast<size_t>(v));
    for (int64_t i = 0; i < v; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    const size_t keep = static_cast<size_t>(k_on ? top_k : v);
    if (keep < ids.size()) {
      std::nth_element(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(keep), ids.end(),
                       BetterThan{w});
      ids.resize(keep);
    }
    std::sort(ids.begin(), ids.end(), BetterThan{w});
    if (p_on) {
      double total = 0.0;
      for (int32_t id : ids) total += std::exp(static_cast<double>(w[id]) - max_w);
      double cumulative = 0.0;
      size_t n = 0;
      while (n < ids.size()) {
        cumulative += std::exp(static_cast<double>(w[ids[n]]) - max_w);
        ++n;
        if (cumulative >= static_cast<double>(top_p) * total) break;
      }
      ids.resize(n);
    }
  } else {
    ids.reserve(static_cast<size_t>(v));
    for (int64_t i = 0; i < v; ++i) ids.push_back(static_cast<int32_t>(i));
  }
  double total = 0.0;
  for (int32_t& id : ids) {
    const double d = static_cast<double>(w[id]) - max_w;
    if (d < min_log) {
      id = -1;
      continue;
    }
    total += std::exp(d);
  }
  const double target = u * total;
  double cumulative = 0.0;
  int32_t last = -1;
  for (int32_t id : ids) {
    if (id < 0) continue;
    last = id;
    cumulative += std::exp(static_cast<double>(w[id]) - max_w);
    if (cumulative > target) return id;
  }
  return last >= 0 ? last : argmax(w, v);
}

double log_sum_exp(const float* l, int64_t v) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < v; ++i) mx = std::max(mx, l[i]);
  if (!(mx > -std::numeric_limits<float>::infinity())) return mx;
  double sum = 0.0;
  for (int64_t i = 0; i < v; ++i) sum += std::exp(static_cast<double>(l[i]) - mx);
  return mx + std::log(sum);
}

void check_values(const RowParams& rp, int64_t rows, const char* op) {
  for (int64_t b = 0; b < rows; ++b) {
    if (rp.temperature != nullptr) {
      TSR_PLUGIN_CHECK_ARG(!std::isnan(rp.temperature[b]) && !std::isinf(rp.temperature[b]),
                           "%s: temperature[%lld] is not finite", op, static_cast<long long>(b));
    }
    if (rp.top_p != nullptr) {
      TSR_PLUGIN_CHECK_ARG(rp.top_p[b] > 0.0f && rp.top_p[b] <= 1.0f,
                           "%s: top_p[%lld] = %g is not in (0, 1]", op, static_cast<long long>(b),
                           static_cast<double>(rp.top_p[b]));
    }
    if (rp.min_p != nullptr) {
      TSR_PLUGIN_CHECK_ARG(rp.min_p[b] >= 0.0f && rp.min_p[b] < 1.0f,
                           "%s: min_p[%lld] = %g is not in [0, 1)", op, static_cast<long long>(b),
                           static_cast<double>(rp.min_p[b]));
    }
    if (rp.repetition != nullptr) {
      TSR_PLUGIN_CHECK_ARG(rp.repetition[b] > 0.0f && std::isfinite(rp.repetition[b]),
                           "%s: repetition_penalty[%lld] must be positive", op,
                           static_cast<long long>(b));
    }
    if (rp.presence != nullptr) {
      TSR_PLUGIN_CHECK_ARG(std::isfinite(rp.presence[b]),
                           "%s: presence_penalty[%lld] is not finite", op,
                           static_cast<long long>(b));
    }
    if (rp.frequency != nullptr) {
      TSR_PLUGIN_CHECK_ARG(std::isfinite(rp.frequency[b]),
                           "%s: frequency_penalty[%lld] is not finite", op,
                           static_cast<long long>(b));
    }
  }
}

// The history's values (shapes and dtypes were checked by check_sample).
void check_history(const SampleViews& v, RowParams& rp, const char* op) {
  if (!v.has_history) return;
  const int64_t rows = v.rows;
  const int64_t vocab = v.vocab;
  rp.offsets = v.history_offsets.as<const int32_t>();
  rp.history = v.history_tokens.as<const int32_t>();
  rp.prompt_lens = v.history_prompt_lens.as<const int32_t>();
  TSR_PLUGIN_CHECK_ARG(rp.offsets[0] >= 0 && rp.offsets[rows] <= v.history_tokens.numel,
                       "%s: history_offsets must lie within history_tokens' %lld entries", op,
                       static_cast<long long>(v.history_tokens.numel));
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t len = static_cast<int64_t>(rp.offsets[b + 1]) - rp.offsets[b];
    TSR_PLUGIN_CHECK_ARG(len >= 0, "%s: history_offsets must be non-decreasing (row %lld)", op,
                         static_cast<long long>(b));
    TSR_PLUGIN_CHECK_ARG(rp.prompt_lens[b] >= 0 && rp.prompt_lens[b] <= len,
                         "%s: history_prompt_lens[%lld] = %d is not in [0, %lld]", op,
                         static_cast<long long>(b), rp.prompt_lens[b], static_cast<long long>(len));
  }
  for (int64_t i = rp.offsets[0]; i < rp.offsets[rows]; ++i) {
    TSR_PLUGIN_CHECK_ARG(rp.history[i] >= 0 && rp.history[i] < vocab,
                         "%s: history_tokens[%lld] = %d is not in [0, %lld)", op,
                         static_cast<long long>(i), rp.history[i], static_cast<long long>(vocab));
  }
}

}  // namespace

void sample(const tsr_sample_params* p, bool execute) {
  constexpr const char* op = "sample";
  const SampleViews v = check_sample(p, op);
  const auto& prm = *p;
  const View& logits = v.logits;
  const int64_t rows = v.rows;
  const int64_t vocab = v.vocab;
  RowParams rp;
  rp.temperature = v.temperature;
  rp.top_k = v.top_k;
  rp.top_p = v.top_p;
  rp.min_p = v.min_p;
  rp.repetition = v.repetition_penalty;
  rp.presence = v.presence_penalty;
  rp.frequency = v.frequency_penalty;
  rp.seeds = v.seeds;
  check_values(rp, rows, op);
  check_history(v, rp, op);
  float* out_logprobs = v.has_logprobs ? v.out_logprobs.as<float>() : nullptr;
  const int64_t top_n = v.top_n;
  int32_t* top_ids = top_n > 0 ? v.top_ids.as<int32_t>() : nullptr;
  float* top_values = top_n > 0 ? v.top_values.as<float>() : nullptr;
  if (!execute) return;

  const float* all = logits.as<const float>();
  int32_t* tokens = v.out_tokens.as<int32_t>();
  presize_scratch(vocab);
  parallel_for(
      rows,
      [&](int64_t b) {
        size_scratch(vocab);  // a no-op once this thread is sized (a new host thread, say)
        float* l = scratch_f32(0, static_cast<size_t>(vocab));
        const float* src = all + b * vocab;
        // NaN logits count as -inf so every comparison below is a strict weak order.
        for (int64_t i = 0; i < vocab; ++i) {
          l[i] = std::isnan(src[i]) ? -std::numeric_limits<float>::infinity() : src[i];
        }
        apply_penalties(rp, b, l);
        const float t = rp.temperature != nullptr ? rp.temperature[b] : 1.0f;
        int32_t token;
        if (!(t >= kGreedyTemperature)) {
          token = argmax(l, vocab);
        } else {
          float* w = scratch_f32(1, static_cast<size_t>(vocab));
          for (int64_t i = 0; i < vocab; ++i) w[i] = l[i] / t;
          const uint64_t seed = rp.seeds != nullptr ? rp.seeds[b] : 0;
          token = draw(w, vocab, rp.top_k != nullptr ? rp.top_k[b] : 0,
                       rp.top_p != nullptr ? rp.top_p[b] : 1.0f,
                       rp.min_p != nullptr ? rp.min_p[b] : 0.0f, uniform(seed, prm.step));
        }
        tokens[b] = token;
        if (out_logprobs == nullptr && top_n == 0) return;
        const double lse = log_sum_exp(l, vocab);
        if (out_logprobs != nullptr) out_logprobs[b] = static_cast<float>(l[token] - lse);
        if (top_n > 0) {
          std::vector<int32_t>& order = t_order;
          for (int64_t i = 0; i < vocab; ++i)
            order[static_cast<size_t>(i)] = static_cast<int32_t>(i);
          // order may be longer than this vocabulary (sized for a larger one before).
          std::partial_sort(order.begin(), order.begin() + top_n, order.begin() + vocab,
                            BetterThan{l});
          for (int64_t n = 0; n < top_n; ++n) {
            const int32_t id = order[static_cast<size_t>(n)];
            top_ids[b * top_n + n] = id;
            top_values[b * top_n + n] = static_cast<float>(l[id] - lse);
          }
        }
      },
      rows * vocab > kParallelGrain, Schedule::kDynamic);
}

}  // namespace tsr::cpu::ops
