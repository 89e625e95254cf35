// The sample op: the CPU plugin's sampling (plugins/cpu/ops_sample.cpp) step by step, one
// work-item per row, so the same (seed, step, logits) gives the same token: NaN logits as
// -inf; penalties once per distinct history token; greedy below temperature 1e-5 (lowest id
// on ties); otherwise top-k, then top-p over the top-k survivors sorted best first (value
// desc, id asc), then min-p, and a draw with the CPU's counter-based generator (splitmix64
// of seed and step) walking the survivors in the CPU's order; logprobs from the penalised
// logits. Sums are in double where the device has fp64 (PoCL, as the CPU does); without it
// (Arc) in float, so a draw may differ from the CPU's where a cumulative sum lands within
// rounding of the target. A sequential work-item per row is plain and correct; vocabulary-
// parallel selection (as the CUDA plugin's) is the known next step for speed on a GPU.
//
// Workspace per row slot (slots run in parallel; slot s takes rows s, s + slots, ...):
// l (penalised logits, f32), w (tempered, f32), ids (int32), counts (uint32, all zero
// between rows: each row restores the entries it touched).
#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double sample_acc;
#else
typedef float sample_acc;
#endif

#define XPU_GREEDY_TEMPERATURE 1e-5f
#define XPU_SEEN 0x80000000u

inline ulong splitmix64(ulong x) {
  x += 0x9e3779b97f4a7c15ul;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ul;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebul;
  return x ^ (x >> 31);
}

inline sample_acc uniform01(ulong seed, ulong step) {
  const ulong bits = splitmix64(splitmix64(seed) ^ splitmix64(step ^ 0x5851f42d4c957f2dul));
#ifdef cl_khr_fp64
  return (double)(bits >> 11) * (1.0 / 9007199254740992.0);
#else
  return (float)(bits >> 40) * (1.0f / 16777216.0f);
#endif
}

// a ranks before b: larger value, then lower id.
inline int ranks_before(const __global float* v, int a, int b) {
  return v[a] > v[b] || (v[a] == v[b] && a < b);
}

inline void sift_down(__global int* ids, const __global float* v, int root, int n) {
  for (;;) {
    int child = 2 * root + 1;
    if (child >= n) return;
    // The heap keeps the id that ranks last on top, so sorting leaves the best first.
    if (child + 1 < n && ranks_before(v, ids[child], ids[child + 1])) ++child;
    if (!ranks_before(v, ids[root], ids[child])) return;
    const int tmp = ids[root];
    ids[root] = ids[child];
    ids[child] = tmp;
    root = child;
  }
}

// ids[0..n) = 0..n-1 sorted best first by v.
inline void sort_ids(__global int* ids, const __global float* v, int n) {
  for (int i = 0; i < n; ++i) ids[i] = i;
  for (int i = n / 2 - 1; i >= 0; --i) sift_down(ids, v, i, n);
  for (int end = n - 1; end > 0; --end) {
    const int tmp = ids[0];
    ids[0] = ids[end];
    ids[end] = tmp;
    sift_down(ids, v, 0, end);
  }
}

inline int argmax_row(const __global float* v, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (v[i] > v[best]) best = i;
  }
  return best;
}

inline int draw_token(const __global float* w, __global int* ids, int vocab, int top_k,
                      float top_p, float min_p, sample_acc u) {
  const int k_on = top_k > 0 && top_k < vocab;
  const int p_on = top_p < 1.0f;
  const float max_w = w[argmax_row(w, vocab)];
  if (!(max_w > -INFINITY)) return argmax_row(w, vocab);
  const sample_acc min_log = min_p > 0.0f ? log((sample_acc)min_p) : -INFINITY;
  int n = vocab;
  const int sorted = k_on || p_on;
  if (sorted) {
    sort_ids(ids, w, vocab);
    if (k_on) n = top_k;
    if (p_on) {
      sample_acc total = 0;
      for (int i = 0; i < n; ++i) total += exp((sample_acc)w[ids[i]] - max_w);
      sample_acc cumulative = 0;
      int kept = 0;
      while (kept < n) {
        cumulative += exp((sample_acc)w[ids[kept]] - max_w);
        ++kept;
        if (cumulative >= (sample_acc)top_p * total) break;
      }
      n = kept;
    }
  }
  sample_acc total = 0;
  for (int i = 0; i < n; ++i) {
    const int id = sorted ? ids[i] : i;
    const sample_acc d = (sample_acc)w[id] - max_w;
    if (!(d < min_log)) total += exp(d);
  }
  const sample_acc target = u * total;
  sample_acc cumulative = 0;
  int last = -1;
  for (int i = 0; i < n; ++i) {
    const int id = sorted ? ids[i] : i;
    const sample_acc d = (sample_acc)w[id] - max_w;
    if (d < min_log) continue;
    last = id;
    cumulative += exp(d);
    if (cumulative > target) return id;
  }
  return last >= 0 ? last : argmax_row(w, vocab);
}

inline void apply_penalties(__global float* l, __global uint* counts, const __global int* history,
                            long history_len, int begin, int end, int output, float rep,
                            float freq, float pres, int vocab) {
  for (int t = output; t < end; ++t) {
    const int id = history[t];
    if (id >= 0 && id < vocab) ++counts[id];
  }
  for (int t = begin; t < end; ++t) {
    const int id = history[t];
    if (id < 0 || id >= vocab) continue;
    const uint c = counts[id];
    if (c & XPU_SEEN) continue;
    counts[id] = c | XPU_SEEN;
    float v = l[id];
    if (rep != 1.0f) v = v > 0.0f ? v / rep : v * rep;
    const uint n = c & ~XPU_SEEN;
    if (n > 0) v -= freq * (float)n + pres;
    l[id] = v;
  }
  for (int t = begin; t < end; ++t) {
    const int id = history[t];
    if (id >= 0 && id < vocab) counts[id] = 0;
  }
}

__kernel void xpu_sample(XPU_ARG(logits), int rows, int vocab, XPU_ARG(temperature),
                         XPU_ARG(top_k), XPU_ARG(top_p), XPU_ARG(min_p), XPU_ARG(repetition),
                         XPU_ARG(presence), XPU_ARG(frequency), XPU_ARG(seeds), ulong step,
                         XPU_ARG(history), long history_len, XPU_ARG(offsets),
                         XPU_ARG(prompt_lens), XPU_ARG(out_tokens), XPU_ARG(out_logprobs),
                         int num_top, XPU_ARG(top_ids), XPU_ARG(top_values), XPU_ARG(workspace),
                         int slots) {
  const int slot = (int)get_global_id(0);
  if (slot >= slots) return;
  __global float* l = XPU_PTR(float, workspace) + (long)slot * 4 * vocab;
  __global float* w = l + vocab;
  __global int* ids = (__global int*)(w + vocab);
  __global uint* counts = (__global uint*)(ids + vocab);
  for (int row = slot; row < rows; row += slots) {
    const __global float* src = XPU_PTR(const float, logits) + (long)row * vocab;
    for (int i = 0; i < vocab; ++i) l[i] = isnan(src[i]) ? -INFINITY : src[i];
    if (XPU_PRESENT(offsets)) {
      const float rep = XPU_PRESENT(repetition) ? XPU_PTR(const float, repetition)[row] : 1.0f;
      const float freq = XPU_PRESENT(frequency) ? XPU_PTR(const float, frequency)[row] : 0.0f;
      const float pres = XPU_PRESENT(presence) ? XPU_PTR(const float, presence)[row] : 0.0f;
      if (rep != 1.0f || freq != 0.0f || pres != 0.0f) {
        const __global int* off = XPU_PTR(const int, offsets);
        const int begin = (int)clamp((long)off[row], 0l, history_len);
        const int end = (int)clamp((long)off[row + 1], (long)begin, history_len);
        const int output =
            (int)clamp((long)begin + XPU_PTR(const int, prompt_lens)[row], (long)begin, (long)end);
        apply_penalties(l, counts, XPU_PTR(const int, history), history_len, begin, end, output,
                        rep, freq, pres, vocab);
      }
    }
    const float t = XPU_PRESENT(temperature) ? XPU_PTR(const float, temperature)[row] : 1.0f;
    int token;
    if (!(t >= XPU_GREEDY_TEMPERATURE)) {
      token = argmax_row(l, vocab);
    } else {
      for (int i = 0; i < vocab; ++i) w[i] = l[i] / t;
      const ulong seed = XPU_PRESENT(seeds) ? XPU_PTR(const ulong, seeds)[row] : 0;
      token = draw_token(w, ids, vocab, XPU_PRESENT(top_k) ? XPU_PTR(const int, top_k)[row] : 0,
                         XPU_PRESENT(top_p) ? XPU_PTR(const float, top_p)[row] : 1.0f,
                         XPU_PRESENT(min_p) ? XPU_PTR(const float, min_p)[row] : 0.0f,
                         uniform01(seed, step));
    }
    XPU_PTR(int, out_tokens)[row] = token;
    if (!XPU_PRESENT(out_logprobs) && num_top == 0) continue;
    float mx = -INFINITY;
    for (int i = 0; i < vocab; ++i) mx = fmax(mx, l[i]);
    sample_acc lse = mx;
    if (mx > -INFINITY) {
      sample_acc sum = 0;
      for (int i = 0; i < vocab; ++i) sum += exp((sample_acc)l[i] - mx);
      lse = mx + log(sum);
    }
    if (XPU_PRESENT(out_logprobs)) XPU_PTR(float, out_logprobs)[row] = (float)(l[token] - lse);
    if (num_top > 0) {
      sort_ids(ids, l, vocab);
      for (int n = 0; n < num_top; ++n) {
        XPU_PTR(int, top_ids)[(long)row * num_top + n] = ids[n];
        XPU_PTR(float, top_values)[(long)row * num_top + n] = (float)(l[ids[n]] - lse);
      }
    }
  }
}
