// The sample op's kernel: one thread block of kSampleThreads per row, reproducing the CPU
// plugin's sampling (plugins/cpu/ops_sample.cpp) step by step so the same (seed, step,
// logits) picks the same token unless float rounding of a cumulative sum intervenes.
//
// Per row, in the row slot's workspace (l: penalised logits, w: tempered logits, e: f64
// exp-weights exp(w - max w)):
//   1. l = logits with NaN -> -inf; penalties once per distinct history token, counted with
//      atomics on an int32 array (w's storage) that the kernel zeroes at the history ids.
//   2. temperature < 1e-5 (or NaN): argmax of l, lowest id on ties.
//   3. otherwise w = l / t, e = exp(w - max w) in f64 (as the CPU), u = the CPU's
//      splitmix64 uniform(seed, step). With neither top-k nor top-p the CPU walks ids in
//      increasing order: each warp sums a contiguous chunk, a scan over the chunks finds the
//      one where the cumulative weight first exceeds u * total, and that warp walks its chunk
//      with warp prefix sums. With top-k or top-p the CPU walks survivors sorted by
//      (w desc, id asc): instead of sorting, every "first position in sorted order where a
//      cumulative count or weight crosses a target" is found by a threshold search over the
//      32-bit order-preserving key of w (4 bits per pass, 8 passes, one bucket per element),
//      which gives the crossing key and the weight above it; among the elements tied at that
//      key (all with the same weight) the crossing one is computed from that weight and
//      located by its rank in id order. This finds the top-k cut (count), the top-p cut
//      (weight of the top-k survivors, crossing >= p * total) and the drawn token (weight of
//      the survivors after min-p, crossing > u * total) with no limit on k or on the nucleus.
//   4. logprobs: log-softmax of l (f64 sum like the CPU); top-N by iterative selection where
//      each thread caches the best of its contiguous segment below the last pick.
// All sums use a fixed per-thread order and fixed-shape reductions, so results depend only
// on the row's data, never on its position in the batch or on timing. Written by hand: no
// library offers this exact sampling contract.
#include <cfloat>
#include <climits>
#include <cmath>

#include "cuda_dtype.cuh"
#include "sample_kernels.h"

namespace tsr::cuda {
namespace {

constexpr float kGreedyTemperature = 1e-5f;
constexpr unsigned kSeen = 0x80000000u;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kWarps = kSampleThreads / 32;

__device__ __forceinline__ int lane_id() {
  return static_cast<int>(threadIdx.x) & 31;
}
__device__ __forceinline__ int warp_id() {
  return static_cast<int>(threadIdx.x) >> 5;
}

// Order-preserving map of a (non-NaN) float to uint32; -0 and +0 share a key, as they compare
// equal in the CPU's ordering.
__device__ __forceinline__ uint32_t key_of(float x) {
  if (x == 0.0f) x = 0.0f;
  const uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float value_of(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// Best first: larger key, then lower id. Never 0 for a real element (key(-inf) > 0).
__device__ __forceinline__ unsigned long long rank_of(uint32_t key, int id) {
  return (static_cast<unsigned long long>(key) << 32) | (~static_cast<uint32_t>(id));
}
__device__ __forceinline__ int id_of_rank(unsigned long long r) {
  return static_cast<int>(~static_cast<uint32_t>(r & 0xffffffffull));
}

__device__ __forceinline__ double weight_of(float w, float max_w) {
  return exp(static_cast<double>(w) - static_cast<double>(max_w));
}

__device__ __forceinline__ uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

__device__ __forceinline__ double uniform(uint64_t seed, uint64_t step) {
  const uint64_t bits = splitmix64(splitmix64(seed) ^ splitmix64(step ^ 0x5851f42d4c957f2dull));
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

struct MaxU64 {
  __device__ unsigned long long operator()(unsigned long long a, unsigned long long b) const {
    return a > b ? a : b;
  }
};
struct MinU64 {
  __device__ unsigned long long operator()(unsigned long long a, unsigned long long b) const {
    return a < b ? a : b;
  }
};
struct MaxInt {
  __device__ int operator()(int a, int b) const { return a > b ? a : b; }
};
struct MinInt {
  __device__ int operator()(int a, int b) const { return a < b ? a : b; }
};
struct SumDouble {
  __device__ double operator()(double a, double b) const { return a + b; }
};

template <class T, class Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = op(v, __shfl_xor_sync(kFullMask, v, off));
  return v;
}

// Every thread of the block must call it; all get the result.
template <class T, class Op>
__device__ T block_reduce(T v, Op op) {
  __shared__ T part[kWarps];
  __shared__ T result;
  v = warp_reduce(v, op);
  __syncthreads();  // earlier readers of part/result are done
  if (lane_id() == 0) part[warp_id()] = v;
  __syncthreads();
  if (warp_id() == 0) {
    T x = part[lane_id()];
    x = warp_reduce(x, op);
    if (lane_id() == 0) result = x;
  }
  __syncthreads();
  return result;
}

// Sums 16 per-thread values over the block into out[16] (shared), in a fixed order.
__device__ void block_sum16(const double (&acc)[16], double* out) {
  __shared__ double part[16][kWarps];
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const double v = warp_reduce(acc[j], SumDouble{});
    if (lane_id() == 0) part[j][warp_id()] = v;
  }
  __syncthreads();
  if (threadIdx.x < 16) {
    double s = 0.0;
    for (int w = 0; w < kWarps; ++w) s += part[threadIdx.x][w];
    out[threadIdx.x] = s;
  }
  __syncthreads();
}

// Keeps elements at or above a cut in sorted order (key desc, id asc).
struct Cut {
  bool on = false;
  uint32_t key = 0;
  int id = 0;
  __device__ bool keeps(int i, uint32_t k) const { return !on || k > key || (k == key && i <= id); }
};

// Which elements take part in a search: the top-k cut, the top-p cut and the min-p floor.
struct Members {
  Cut top_k;
  Cut top_p;
  bool min_p_on = false;
  double min_log = 0.0;
  float max_w = 0.0f;
  __device__ bool operator()(int i, uint32_t k, float w) const {
    if (!top_k.keeps(i, k) || !top_p.keeps(i, k)) return false;
    return !min_p_on || !(static_cast<double>(w) - static_cast<double>(max_w) < min_log);
  }
};

struct Search {
  bool found = false;
  uint32_t key = 0;    // the crossing key
  double above = 0.0;  // count or weight of members with a larger key
};

// Largest key k such that f(k) = (count, or weight e, of members with key >= k) meets
// f > target (strict) or f >= target. f only changes at member keys and no element has key
// 0 (NaNs were replaced), so the result is a member's key, or 0 when even f(0), the total,
// fails the test.
template <bool kWeight>
__device__ Search threshold_search(const float* w, const double* e, int vocab,
                                   const Members& members, double target, bool strict) {
  __shared__ double tot[16];
  unsigned long long lo = 0;
  double above = 0.0;
  for (int shift = 28; shift >= 0; shift -= 4) {
    const unsigned long long width = 16ull << shift;
    double acc[16];
#pragma unroll
    for (int j = 0; j < 16; ++j) acc[j] = 0.0;
    for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kSampleThreads) {
      const float x = w[i];
      const uint32_t k = key_of(x);
      if (k < lo || k >= lo + width || !members(i, k, x)) continue;
      acc[(k - lo) >> shift] += kWeight ? e[i] : 1.0;
    }
    block_sum16(acc, tot);
    // Every thread evaluates the same shared sums in the same order: uniform choice.
    double r = 0.0;
    int chosen = 0;
    for (int j = 15; j >= 1; --j) {
      const double f = above + (r + tot[j]);
      if (strict ? f > target : f >= target) {
        chosen = j;
        break;
      }
      r += tot[j];
    }
    lo += static_cast<unsigned long long>(chosen) << shift;
    above += r;
  }
  Search s;
  s.key = static_cast<uint32_t>(lo);
  s.found = lo != 0;
  s.above = above;
  return s;
}

// The id of the n-th (1-based, id order) member with key `key`; the last such member when
// there are fewer than n, -1 when there is none.
__device__ int nth_tied(const float* w, int vocab, const Members& members, uint32_t key,
                        long long n) {
  if (n <= 1) {
    int best = INT_MAX;
    for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kSampleThreads) {
      const float x = w[i];
      const uint32_t k = key_of(x);
      if (k == key && members(i, k, x)) {
        best = i;
        break;
      }
    }
    best = block_reduce(best, MinInt{});
    return best == INT_MAX ? -1 : best;
  }
  __shared__ int counts[kWarps];
  __shared__ int found;
  __shared__ int last;
  __syncthreads();  // earlier readers of found/last are done
  if (threadIdx.x == 0) {
    found = -1;
    last = -1;
  }
  long long before = 0;
  for (int base = 0; base < vocab; base += kSampleThreads) {
    const int i = base + static_cast<int>(threadIdx.x);
    bool match = false;
    if (i < vocab) {
      const float x = w[i];
      const uint32_t k = key_of(x);
      match = k == key && members(i, k, x);
    }
    const unsigned ballot = __ballot_sync(kFullMask, match);
    __syncthreads();  // counts of the previous tile are read; found/last initialised
    if (lane_id() == 0) counts[warp_id()] = __popc(ballot);
    __syncthreads();
    int prefix = 0;
    int tile = 0;
    for (int wi = 0; wi < kWarps; ++wi) {
      const int c = counts[wi];
      if (wi < warp_id()) prefix += c;
      tile += c;
    }
    if (match) {
      const long long rank =
          before + prefix + __popc(ballot & ((1u << lane_id()) - 1u)) + 1;  // 1-based
      if (rank == n) found = i;
      if (rank == before + tile) last = i;
    }
    before += tile;
    if (before >= n) break;  // `before` is the same in every thread
  }
  __syncthreads();
  const int result = found >= 0 ? found : last;
  __syncthreads();  // everyone read found/last before a later call resets them
  return result;
}

// The rank (1-based, clamped to [1, vocab]) among the elements tied at the crossing key at
// which the CPU's sequential cumulative sum crosses: the first m with
// above + m * weight > target (strict) or >= target.
__device__ long long tie_rank(double target, double above, double weight, bool strict, int vocab) {
  const double q = (target - above) / weight;
  double m = strict ? floor(q) + 1.0 : ceil(q);
  if (!(m >= 1.0)) m = 1.0;
  if (m > static_cast<double>(vocab)) m = static_cast<double>(vocab);
  return static_cast<long long>(m);
}

// Returns the argmax (lowest id on ties) of x[0, vocab).
__device__ int argmax(const float* x, int vocab) {
  unsigned long long best = 0;
  for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kSampleThreads) {
    const unsigned long long r = rank_of(key_of(x[i]), i);
    best = r > best ? r : best;
  }
  best = block_reduce(best, MaxU64{});
  return id_of_rank(best);
}

// Penalties exactly as the CPU: counts of output tokens, then once per distinct history
// token repetition, frequency and presence. `counts` (vocab entries) is only touched at
// history ids.
__device__ void apply_penalties(const SampleArgs& a, int row, float* l, unsigned* counts) {
  if (a.offsets == nullptr) return;
  const float rep = a.repetition != nullptr ? a.repetition[row] : 1.0f;
  const float freq = a.frequency != nullptr ? a.frequency[row] : 0.0f;
  const float pres = a.presence != nullptr ? a.presence[row] : 0.0f;
  if (rep == 1.0f && freq == 0.0f && pres == 0.0f) return;
  const int64_t len = a.history_len;
  int64_t begin = a.offsets[row];
  begin = begin < 0 ? 0 : (begin > len ? len : begin);
  int64_t end = a.offsets[row + 1];
  end = end < begin ? begin : (end > len ? len : end);
  int64_t prompt = a.prompt_lens[row];
  prompt = prompt < 0 ? 0 : (prompt > end - begin ? end - begin : prompt);
  const int64_t output = begin + prompt;
  const int vocab = a.vocab;
  for (int64_t j = begin + threadIdx.x; j < end; j += kSampleThreads) {
    const int t = a.history[j];
    if (t >= 0 && t < vocab) counts[t] = 0;
  }
  __syncthreads();
  for (int64_t j = output + threadIdx.x; j < end; j += kSampleThreads) {
    const int t = a.history[j];
    if (t >= 0 && t < vocab) atomicAdd(&counts[t], 1u);
  }
  __syncthreads();
  for (int64_t j = begin + threadIdx.x; j < end; j += kSampleThreads) {
    const int t = a.history[j];
    if (t < 0 || t >= vocab) continue;
    const unsigned c = atomicOr(&counts[t], kSeen);
    if (c & kSeen) continue;  // another thread owns this token
    float v = l[t];
    if (rep != 1.0f) v = v > 0.0f ? __fdiv_rn(v, rep) : __fmul_rn(v, rep);
    const unsigned n = c & ~kSeen;
    if (n > 0) v = __fsub_rn(v, __fadd_rn(__fmul_rn(freq, static_cast<float>(n)), pres));
    // Only invalid penalties (which the host cannot see) produce NaN; keep the order total.
    l[t] = isnan(v) ? -INFINITY : v;
  }
  __syncthreads();
}

// The CPU's draw with neither top-k nor top-p: survivors walked in increasing id order.
// Warp c owns the contiguous chunk c of ids; the chunk sums are scanned to find the chunk
// where the cumulative weight first exceeds u * total, which its warp then walks.
__device__ int draw_in_id_order(const float* w, const double* e, int vocab, const Members& m,
                                double u, int fallback) {
  __shared__ double warp_sum[kWarps];
  __shared__ double warp_excl[kWarps];
  __shared__ double total_sh;
  __shared__ int pick;
  const int chunk = ((vocab + kWarps - 1) / kWarps + 31) / 32 * 32;
  const int cbegin = min(warp_id() * chunk, vocab);
  const int cend = min(cbegin + chunk, vocab);
  double sum = 0.0;
  int last = -1;
  for (int i = cbegin + lane_id(); i < cend; i += 32) {
    const float x = w[i];
    if (m(i, key_of(x), x)) {
      sum += e[i];
      last = i;
    }
  }
  sum = warp_reduce(sum, SumDouble{});
  last = block_reduce(last, MaxInt{});  // its barriers also retire earlier shared reads
  if (lane_id() == 0) warp_sum[warp_id()] = sum;
  __syncthreads();
  if (warp_id() == 0) {
    double incl = warp_sum[lane_id()];
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
      const double y = __shfl_up_sync(kFullMask, incl, off);
      if (lane_id() >= off) incl = y + incl;
    }
    const double before = __shfl_up_sync(kFullMask, incl, 1);
    warp_excl[lane_id()] = lane_id() == 0 ? 0.0 : before;
    if (lane_id() == 31) total_sh = incl;
  }
  __syncthreads();
  const double target = u * total_sh;
  const double excl = warp_excl[warp_id()];
  int first = (excl + warp_sum[warp_id()] > target) ? warp_id() : INT_MAX;
  first = block_reduce(first, MinInt{});
  if (first == INT_MAX) return last >= 0 ? last : fallback;
  if (threadIdx.x == 0) pick = -1;
  __syncthreads();
  if (warp_id() == first) {
    double carry = excl;
    int chunk_last = -1;
    for (int base = cbegin; base < cend; base += 32) {
      const int i = base + lane_id();
      bool keep = false;
      if (i < cend) {
        const float x = w[i];
        keep = m(i, key_of(x), x);
      }
      double incl = keep ? e[i] : 0.0;
#pragma unroll
      for (int off = 1; off < 32; off <<= 1) {
        const double y = __shfl_up_sync(kFullMask, incl, off);
        if (lane_id() >= off) incl = y + incl;
      }
      const unsigned hit = __ballot_sync(kFullMask, keep && carry + incl > target);
      const unsigned kept = __ballot_sync(kFullMask, keep);
      if (hit != 0) {  // warp-uniform
        if (lane_id() == 0) pick = base + __ffs(static_cast<int>(hit)) - 1;
        break;
      }
      if (kept != 0) chunk_last = base + 31 - __clz(static_cast<int>(kept));
      carry = carry + __shfl_sync(kFullMask, incl, 31);
    }
    // Only rounding can leave the crossing chunk without a hit: take its last survivor.
    if (lane_id() == 0 && pick < 0) pick = chunk_last;
  }
  __syncthreads();
  const int token = pick;
  __syncthreads();  // everyone read pick before a later call resets it
  if (token >= 0) return token;
  return last >= 0 ? last : fallback;
}

// The CPU's draw with top-k and/or top-p: survivors walked best first.
__device__ int draw_sorted(const float* w, const double* e, int vocab, int top_k, bool k_on,
                           float top_p, bool p_on, Members m, double u, int fallback) {
  Members all;  // no cut, no floor
  if (k_on) {
    const Search s = threshold_search<false>(w, e, vocab, all, static_cast<double>(top_k), false);
    // f(0) = vocab > top_k, so the search always finds the key of the k-th best element.
    const long long rank = static_cast<long long>(top_k) - static_cast<long long>(s.above);
    m.top_k.on = true;
    m.top_k.key = s.key;
    m.top_k.id = nth_tied(w, vocab, all, s.key, rank < 1 ? 1 : rank);
  }
  if (p_on) {
    Members in_k;
    in_k.top_k = m.top_k;
    double total = 0.0;
    for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kSampleThreads) {
      if (in_k.top_k.keeps(i, key_of(w[i]))) total += e[i];
    }
    total = block_reduce(total, SumDouble{});
    const double target = static_cast<double>(top_p) * total;
    const Search s = threshold_search<true>(w, e, vocab, in_k, target, false);
    if (s.found) {  // otherwise the CPU keeps every top-k survivor
      const long long rank =
          tie_rank(target, s.above, weight_of(value_of(s.key), m.max_w), false, vocab);
      m.top_p.on = true;
      m.top_p.key = s.key;
      m.top_p.id = nth_tied(w, vocab, in_k, s.key, rank);
    }
  }
  double total = 0.0;
  unsigned long long worst = ~0ull;  // the last survivor in sorted order
  for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kSampleThreads) {
    const float x = w[i];
    const uint32_t k = key_of(x);
    if (!m(i, k, x)) continue;
    total += e[i];
    const unsigned long long r = rank_of(k, i);
    worst = r < worst ? r : worst;
  }
  total = block_reduce(total, SumDouble{});
  worst = block_reduce(worst, MinU64{});
  const double target = u * total;
  const Search s = threshold_search<true>(w, e, vocab, m, target, true);
  if (!s.found) return worst != ~0ull ? id_of_rank(worst) : fallback;
  const long long rank =
      tie_rank(target, s.above, weight_of(value_of(s.key), m.max_w), true, vocab);
  const int token = nth_tied(w, vocab, m, s.key, rank);
  return token >= 0 ? token : fallback;
}

// log-softmax of l at `token`, and the top-N of l, as the CPU.
__device__ void write_logprobs(const SampleArgs& a, int row, const float* l, int token) {
  const int vocab = a.vocab;
  float mx = -INFINITY;
  for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kSampleThreads) mx = fmaxf(mx, l[i]);
  mx = block_reduce(mx, [](float x, float y) { return fmaxf(x, y); });
  double lse = static_cast<double>(mx);
  if (mx > -INFINITY) {
    double sum = 0.0;
    for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kSampleThreads) {
      sum += exp(static_cast<double>(l[i]) - static_cast<double>(mx));
    }
    sum = block_reduce(sum, SumDouble{});
    lse = static_cast<double>(mx) + log(sum);
  }
  if (a.out_logprobs != nullptr && threadIdx.x == 0) {
    a.out_logprobs[row] = static_cast<float>(static_cast<double>(l[token]) - lse);
  }
  const int n = a.num_top;
  if (n <= 0) return;
  // Thread t owns ids [t * seg, (t + 1) * seg) and caches its best below the last pick.
  const int seg = (vocab + kSampleThreads - 1) / kSampleThreads;
  const int sbegin = min(static_cast<int>(threadIdx.x) * seg, vocab);
  const int send = min(sbegin + seg, vocab);
  unsigned long long bound = ~0ull;
  unsigned long long mine = 0;
  for (int i = sbegin; i < send; ++i) {
    const unsigned long long r = rank_of(key_of(l[i]), i);
    mine = r > mine ? r : mine;
  }
  int32_t* ids = a.top_ids + static_cast<int64_t>(row) * n;
  float* values = a.top_values + static_cast<int64_t>(row) * n;
  for (int j = 0; j < n; ++j) {
    const unsigned long long best = block_reduce(mine, MaxU64{});
    const int id = id_of_rank(best);
    if (threadIdx.x == 0) {
      ids[j] = id;
      values[j] = static_cast<float>(static_cast<double>(l[id]) - lse);
    }
    if (mine == best) {  // ranks are unique: only the owner rescans, below the new bound
      bound = best;
      mine = 0;
      for (int i = sbegin; i < send; ++i) {
        const unsigned long long r = rank_of(key_of(l[i]), i);
        if (r < bound && r > mine) mine = r;
      }
    }
  }
}

__device__ void sample_row(const SampleArgs& a, int row, float* l, float* w, double* e) {
  const int vocab = a.vocab;
  const float* src = a.logits + static_cast<int64_t>(row) * vocab;
  for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kSampleThreads) {
    const float x = src[i];
    l[i] = isnan(x) ? -INFINITY : x;
  }
  __syncthreads();
  apply_penalties(a, row, l, reinterpret_cast<unsigned*>(w));
  const float t = a.temperature != nullptr ? a.temperature[row] : 1.0f;
  int token;
  if (!(t >= kGreedyTemperature)) {
    token = argmax(l, vocab);
  } else {
    __syncthreads();  // w held the penalty counts
    for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kSampleThreads) {
      const float x = __fdiv_rn(l[i], t);
      w[i] = isnan(x) ? -INFINITY : x;  // only an infinite temperature gets here with NaN
    }
    __syncthreads();
    const int best = argmax(w, vocab);
    const float max_w = w[best];
    if (!(max_w > -INFINITY)) {
      token = best;
    } else {
      for (int i = static_cast<int>(threadIdx.x); i < vocab; i += kSampleThreads) {
        e[i] = weight_of(w[i], max_w);
      }
      __syncthreads();
      const int32_t top_k = a.top_k != nullptr ? a.top_k[row] : 0;
      const float top_p = a.top_p != nullptr ? a.top_p[row] : 1.0f;
      const float min_p = a.min_p != nullptr ? a.min_p[row] : 0.0f;
      const bool k_on = top_k > 0 && top_k < vocab;
      const bool p_on = top_p < 1.0f;
      Members m;
      m.max_w = max_w;
      m.min_p_on = min_p > 0.0f;
      m.min_log = m.min_p_on ? log(static_cast<double>(min_p)) : 0.0;
      const uint64_t seed = a.seeds != nullptr ? a.seeds[row] : 0;
      const double u = uniform(seed, a.step);
      token = (k_on || p_on) ? draw_sorted(w, e, vocab, top_k, k_on, top_p, p_on, m, u, best)
                             : draw_in_id_order(w, e, vocab, m, u, best);
    }
  }
  if (threadIdx.x == 0) a.out_tokens[row] = token;
  if (a.out_logprobs != nullptr || a.num_top > 0) write_logprobs(a, row, l, token);
}

__global__ void __launch_bounds__(kSampleThreads, 1) sample_kernel(const SampleArgs a) {
  const int64_t vocab = a.vocab;
  unsigned char* slot =
      static_cast<unsigned char*>(a.workspace) + static_cast<int64_t>(blockIdx.x) * vocab * 16;
  double* e = reinterpret_cast<double*>(slot);
  float* l = reinterpret_cast<float*>(slot + vocab * 8);
  float* w = reinterpret_cast<float*>(slot + vocab * 12);
  for (int row = static_cast<int>(blockIdx.x); row < a.rows; row += static_cast<int>(gridDim.x)) {
    __syncthreads();  // the previous row is finished with the slot
    sample_row(a, row, l, w, e);
  }
}

}  // namespace

int32_t sample_slots(int64_t rows, int64_t vocab, int sm_count) {
  constexpr int64_t kBudget = int64_t{256} << 20;
  int64_t slots = rows;
  const int64_t fill = 2 * static_cast<int64_t>(sm_count > 0 ? sm_count : 1);
  if (slots > fill) slots = fill;
  const int64_t fit = kBudget / (vocab * 16);
  if (slots > fit) slots = fit;
  if (slots < 1) slots = 1;
  return static_cast<int32_t>(slots);
}

size_t sample_workspace_bytes(int64_t slots, int64_t vocab) {
  return static_cast<size_t>(slots) * static_cast<size_t>(vocab) * 16;
}

cudaError_t launch_sample(const SampleArgs& args, cudaStream_t stream) {
  if (args.rows <= 0) return cudaSuccess;
  tsr_cuda_launch(sample_kernel, args.slots, kSampleThreads, 0, stream, args);
  return cudaGetLastError();
}

}  // namespace tsr::cuda
