// Float64 reference implementations of every op of ops.def, written from the contracts in
// plugin.h and sharing no code with any plugin. Inputs are the exact values the plugin sees
// (already rounded to the tensor dtypes); outputs are unrounded float64.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "tessera/plugin.h"

namespace tsr::conformance::ref {

using Vec = std::vector<double>;

Vec embedding(const std::vector<int32_t>& ids, const Vec& table, int64_t hidden);

// Without residual. `x` is [rows, hidden].
Vec rms_norm(const Vec& x, const Vec& weight, int64_t hidden, double eps);

// out[M, N] = x[M, K] · w[N, K]^T + bias[N] (bias may be empty).
Vec linear(const Vec& x, const Vec& w, const Vec& bias, int64_t m, int64_t n, int64_t k);

// The float64 weight [N][K] a canonical weight describes (see tsr_weight_format).
// `mins` is the *_ASYM formats' (laid out as scales) and empty for the other formats.
Vec dequantize(tsr_weight_format format, int64_t rows, int64_t cols, int64_t group_size,
               const std::vector<uint8_t>& data, const std::vector<float>& scales,
               const std::vector<float>& mins = {});

struct RopeConfig {
  int32_t rotary_dim = 0;
  bool neox = true;
  double theta = 10000.0;
  tsr_rope_scaling scaling = TSR_ROPE_SCALING_NONE;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int32_t original_max_position = 8192;
};

// The per-pair inverse frequencies after scaling, as the f32 values the contract names.
Vec rope_inv_freq(const RopeConfig& cfg);
// Rotates x [T, heads, D] in place.
void rope(Vec& x, const std::vector<int32_t>& positions, int64_t heads, int64_t head_dim,
          const RopeConfig& cfg);

// Paged attention with the context given directly: keys/values of sequence b are
// k[b] / v[b], each [seq_lens[b], Hkv, D].
struct AttentionBatch {
  std::vector<int32_t> query_start_loc;  // B+1
  std::vector<int32_t> seq_lens;         // B
  std::vector<Vec> keys;                 // per sequence [seq_len, Hkv, D]
  std::vector<Vec> values;
  int64_t num_query_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  double scale = 1.0;
  int32_t sliding_window = 0;
  double logit_softcap = 0.0;
};
Vec paged_attention(const Vec& query, const AttentionBatch& batch);

Vec silu_mul(const Vec& x, int64_t rows, int64_t inner);
Vec add(const Vec& a, const Vec& b);

// ---- sampling ----------------------------------------------------------------------------

struct SampleRow {
  Vec logits;
  std::vector<int32_t> prompt;  // history: prompt tokens
  std::vector<int32_t> output;  // history: generated tokens
  double repetition = 1.0, presence = 0.0, frequency = 0.0;
  double temperature = 1.0;
  int32_t top_k = 0;
  double top_p = 1.0, min_p = 0.0;
};

// Logits after penalties (step 1 of the contract).
Vec penalized(const SampleRow& row);
Vec log_softmax(const Vec& logits);
// Lowest index among the maxima.
int32_t argmax(const Vec& values);
bool is_greedy(double temperature);
// Tokens a sampler may return: the top-k, top-p and min-p survivors, each filter applied
// to the full tempered distribution with a small slack, so it contains every survivor set
// a correct implementation can produce (filters in any order, with renormalisation).
std::set<int32_t> survivors(const SampleRow& row);

}  // namespace tsr::conformance::ref
