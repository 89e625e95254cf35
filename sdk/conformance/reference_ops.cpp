// Float64 reference ops. Each follows the wording of plugin.h literally; where the contract
// says a step is computed in f32 (rope angles), the reference rounds exactly there and
// nowhere else, so the tolerance measures only the plugin's own rounding.
#include "reference_ops.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "harness.h"

namespace tsr::conformance::ref {

Vec embedding(const std::vector<int32_t>& ids, const Vec& table, int64_t hidden) {
  Vec out(ids.size() * hidden);
  for (size_t t = 0; t < ids.size(); ++t) {
    std::copy_n(table.begin() + ids[t] * hidden, hidden, out.begin() + t * hidden);
  }
  return out;
}

Vec rms_norm(const Vec& x, const Vec& weight, int64_t hidden, double eps) {
  Vec out(x.size());
  for (size_t r = 0; r < x.size() / hidden; ++r) {
    double sum = 0;
    for (int64_t i = 0; i < hidden; ++i) sum += x[r * hidden + i] * x[r * hidden + i];
    const double inv = 1.0 / std::sqrt(sum / hidden + eps);
    for (int64_t i = 0; i < hidden; ++i) out[r * hidden + i] = x[r * hidden + i] * inv * weight[i];
  }
  return out;
}

Vec linear(const Vec& x, const Vec& w, const Vec& bias, int64_t m, int64_t n, int64_t k) {
  Vec out(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = bias.empty() ? 0.0 : bias[j];
      for (int64_t c = 0; c < k; ++c) acc += x[i * k + c] * w[j * k + c];
      out[i * n + j] = acc;
    }
  }
  return out;
}

Vec dequantize(tsr_weight_format format, int64_t rows, int64_t cols, int64_t group_size,
               const std::vector<uint8_t>& data, const std::vector<float>& scales,
               const std::vector<float>& mins) {
  Vec w(rows * cols);
  for (int64_t n = 0; n < rows; ++n) {
    for (int64_t k = 0; k < cols; ++k) {
      const int64_t i = n * cols + k;
      double v = 0;
      switch (format) {
        case TSR_WEIGHT_FORMAT_F32:
          v = decode(TSR_DTYPE_F32, {data.begin() + i * 4, data.begin() + i * 4 + 4})[0];
          break;
        case TSR_WEIGHT_FORMAT_F16:
          v = decode(TSR_DTYPE_F16, {data.begin() + i * 2, data.begin() + i * 2 + 2})[0];
          break;
        case TSR_WEIGHT_FORMAT_BF16:
          v = decode(TSR_DTYPE_BF16, {data.begin() + i * 2, data.begin() + i * 2 + 2})[0];
          break;
        case TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL:
          v = static_cast<int8_t>(data[i]) * static_cast<double>(scales[n]);
          break;
        case TSR_WEIGHT_FORMAT_INT8_GROUP:
          v = static_cast<int8_t>(data[i]) *
              static_cast<double>(scales[n * (cols / group_size) + k / group_size]);
          break;
        case TSR_WEIGHT_FORMAT_INT4_GROUP: {
          const uint8_t byte = data[n * (cols / 2) + k / 2];
          const int u = (k % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
          v = (u - 8) * static_cast<double>(scales[n * (cols / group_size) + k / group_size]);
          break;
        }
        case TSR_WEIGHT_FORMAT_FP8_E4M3:
          v = fp8_e4m3_to_double(data[i]) * static_cast<double>(scales[n]);
          break;
        case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM: {
          const uint8_t byte = data[n * (cols / 2) + k / 2];
          const int u = (k % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
          const int64_t g = n * (cols / group_size) + k / group_size;
          v = u * static_cast<double>(scales[g]) + static_cast<double>(mins.at(g));
          break;
        }
        case TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM: {
          const int64_t g = n * (cols / group_size) + k / group_size;
          v = data[i] * static_cast<double>(scales[g]) + static_cast<double>(mins.at(g));
          break;
        }
      }
      w[i] = v;
    }
  }
  return w;
}

Vec rope_inv_freq(const RopeConfig& cfg, bool long_table) {
  const int32_t half = cfg.rotary_dim / 2;
  Vec inv(half);
  for (int32_t i = 0; i < half; ++i) {
    double f = std::pow(cfg.theta, -2.0 * i / cfg.rotary_dim);
    if (cfg.scaling == TSR_ROPE_SCALING_LINEAR) {
      f /= cfg.factor;
    } else if (cfg.scaling == TSR_ROPE_SCALING_LLAMA3) {
      const double wavelen = 2.0 * M_PI / f;
      const double low = cfg.original_max_position / cfg.low_freq_factor;
      const double high = cfg.original_max_position / cfg.high_freq_factor;
      if (wavelen > low) {
        f = f / cfg.factor;
      } else if (wavelen >= high) {
        const double s = (cfg.original_max_position / wavelen - cfg.low_freq_factor) /
                         (cfg.high_freq_factor - cfg.low_freq_factor);
        f = (1 - s) * f / cfg.factor + s * f;
      }
    } else if (cfg.scaling == TSR_ROPE_SCALING_LONGROPE) {
      f /= long_table ? cfg.long_factors[i] : cfg.short_factors[i];
    }
    inv[i] = static_cast<float>(f);
  }
  return inv;
}

void rope(Vec& x, const std::vector<int32_t>& positions, int64_t heads, int64_t head_dim,
          const RopeConfig& cfg) {
  const Vec short_inv = rope_inv_freq(cfg);
  const Vec long_inv = rope_inv_freq(cfg, true);
  const bool longrope = cfg.scaling == TSR_ROPE_SCALING_LONGROPE;
  const double factor = longrope ? cfg.attention_factor : 1.0;
  const int32_t half = cfg.rotary_dim / 2;
  for (size_t t = 0; t < positions.size(); ++t) {
    const Vec& inv = longrope && positions[t] >= cfg.original_max_position ? long_inv : short_inv;
    for (int64_t h = 0; h < heads; ++h) {
      double* row = x.data() + (t * heads + h) * head_dim;
      for (int32_t i = 0; i < half; ++i) {
        const float angle = static_cast<float>(positions[t]) * static_cast<float>(inv[i]);
        const double c = std::cos(static_cast<double>(angle)) * factor;
        const double s = std::sin(static_cast<double>(angle)) * factor;
        const int64_t ia = cfg.neox ? i : 2 * i;
        const int64_t ib = cfg.neox ? i + half : 2 * i + 1;
        const double a = row[ia], b = row[ib];
        row[ia] = a * c - b * s;
        row[ib] = b * c + a * s;
      }
    }
  }
}

Vec paged_attention(const Vec& query, const AttentionBatch& batch) {
  const int64_t hq = batch.num_query_heads, hk = batch.num_kv_heads, d = batch.head_dim;
  const int64_t group = hq / hk;
  Vec out(query.size(), 0.0);
  for (size_t b = 0; b + 1 < batch.query_start_loc.size(); ++b) {
    const int32_t q0 = batch.query_start_loc[b];
    const int32_t q_len = batch.query_start_loc[b + 1] - q0;
    const int32_t ctx = batch.seq_lens[b];
    for (int32_t i = 0; i < q_len; ++i) {
      const int64_t pos = ctx - q_len + i;
      const int64_t t = q0 + i;
      for (int64_t h = 0; h < hq; ++h) {
        const int64_t kvh = h / group;
        const double* q = query.data() + (t * hq + h) * d;
        std::vector<double> scores;
        std::vector<int64_t> cols;
        for (int64_t j = 0; j <= pos; ++j) {
          if (batch.sliding_window > 0 && j <= pos - batch.sliding_window) continue;
          const double* k = batch.keys[b].data() + (j * hk + kvh) * d;
          double s = 0;
          for (int64_t c = 0; c < d; ++c) s += q[c] * k[c];
          s *= batch.scale;
          if (batch.logit_softcap > 0) s = batch.logit_softcap * std::tanh(s / batch.logit_softcap);
          scores.push_back(s);
          cols.push_back(j);
        }
        const double mx = *std::max_element(scores.begin(), scores.end());
        double denom = 0;
        for (double& s : scores) denom += (s = std::exp(s - mx));
        double* o = out.data() + (t * hq + h) * d;
        for (size_t n = 0; n < cols.size(); ++n) {
          const double* v = batch.values[b].data() + (cols[n] * hk + kvh) * d;
          for (int64_t c = 0; c < d; ++c) o[c] += scores[n] / denom * v[c];
        }
      }
    }
  }
  return out;
}

Vec gelu_tanh_mul(const Vec& x, int64_t rows, int64_t inner) {
  Vec out(rows * inner);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < inner; ++i) {
      const double g = x[r * 2 * inner + i];
      const double u = x[r * 2 * inner + inner + i];
      // 0.5 g (1 + tanh a) = g / (1 + exp(-2a)); the second form keeps its relative
      // precision where tanh a is near -1 (gates below about -5), even in float64.
      const double a = std::sqrt(2.0 / M_PI) * (g + 0.044715 * g * g * g);
      const double gelu = g / (1.0 + std::exp(-2.0 * a));
      out[r * inner + i] = gelu * u;
    }
  }
  return out;
}

Vec silu_mul(const Vec& x, int64_t rows, int64_t inner) {
  Vec out(rows * inner);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < inner; ++i) {
      const double g = x[r * 2 * inner + i];
      const double u = x[r * 2 * inner + inner + i];
      out[r * inner + i] = g / (1.0 + std::exp(-g)) * u;
    }
  }
  return out;
}

Vec add(const Vec& a, const Vec& b) {
  Vec out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] + b[i];
  return out;
}

Vec penalized(const SampleRow& row) {
  Vec l = row.logits;
  if (row.repetition != 1.0) {
    std::set<int32_t> seen(row.prompt.begin(), row.prompt.end());
    seen.insert(row.output.begin(), row.output.end());
    for (int32_t tok : seen)
      l[tok] = l[tok] > 0 ? l[tok] / row.repetition : l[tok] * row.repetition;
  }
  std::map<int32_t, int> counts;
  for (int32_t tok : row.output) ++counts[tok];
  for (const auto& [tok, count] : counts) {
    l[tok] -= row.frequency * count + row.presence * (count > 0 ? 1.0 : 0.0);
  }
  return l;
}

Vec log_softmax(const Vec& logits) {
  const double mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (double v : logits) sum += std::exp(v - mx);
  const double lse = mx + std::log(sum);
  Vec out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - lse;
  return out;
}

int32_t argmax(const Vec& values) {
  int32_t best = 0;
  for (size_t i = 1; i < values.size(); ++i) {
    if (values[i] > values[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

bool is_greedy(double temperature) {
  return temperature < 1e-5;
}

std::set<int32_t> survivors(const SampleRow& row) {
  const Vec l = penalized(row);
  const int32_t v = static_cast<int32_t>(l.size());
  std::set<int32_t> keep;
  if (is_greedy(row.temperature)) {
    keep.insert(argmax(l));
    return keep;
  }
  Vec scaled(l.size());
  for (size_t i = 0; i < l.size(); ++i) scaled[i] = l[i] / row.temperature;
  const Vec lp = log_softmax(scaled);
  Vec p(lp.size());
  for (size_t i = 0; i < lp.size(); ++i) p[i] = std::exp(lp[i]);
  std::vector<int32_t> order(v);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
  const double pmax = p[order[0]];
  const double slack = 1e-4;
  double cumulative = 0;       // mass of ranks before this one
  double strictly_before = 0;  // mass of tokens strictly more probable than this one
  for (int32_t rank = 0; rank < v; ++rank) {
    const int32_t tok = order[rank];
    if (rank > 0 && p[order[rank - 1]] > p[tok]) strictly_before = cumulative;
    cumulative += p[tok];
    // top-k: tokens tied with the k-th best survive too.
    if (row.top_k > 0 && row.top_k < v && p[tok] < p[order[row.top_k - 1]] * (1 - slack)) continue;
    // top-p: the mass of strictly more probable tokens is still below p.
    if (row.top_p < 1.0 && strictly_before >= row.top_p + slack) continue;
    if (row.min_p > 0 && p[tok] < row.min_p * pmax * (1 - slack)) continue;
    keep.insert(tok);
  }
  return keep;
}

}  // namespace tsr::conformance::ref
