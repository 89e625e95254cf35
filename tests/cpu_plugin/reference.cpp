// Double-precision references (see reference.h).
#include "reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "tessera/plugin.hpp"

namespace tsr::test {

std::vector<float> random_floats(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = tsr::sdk::f32_to_bf16(v[i]);
  return out;
}

std::vector<float> from_bf16(const std::vector<uint16_t>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = tsr::sdk::bf16_to_f32(v[i]);
  return out;
}

std::vector<uint16_t> to_f16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = tsr::sdk::f32_to_f16(v[i]);
  return out;
}

std::vector<float> from_f16(const std::vector<uint16_t>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = tsr::sdk::f16_to_f32(v[i]);
  return out;
}

double normalized_error(const std::vector<float>& actual, const std::vector<double>& expected) {
  if (actual.size() != expected.size()) return std::numeric_limits<double>::infinity();
  double num = 0.0;
  double den = 0.0;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (!std::isfinite(actual[i])) return std::numeric_limits<double>::infinity();
    const double d = static_cast<double>(actual[i]) - expected[i];
    num += d * d;
    den += expected[i] * expected[i];
  }
  return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}

double normalized_error(const std::vector<float>& actual, const std::vector<float>& expected) {
  return normalized_error(actual, std::vector<double>(expected.begin(), expected.end()));
}

namespace {
double fp8_value(uint8_t v) {
  const int sign = (v & 0x80) ? -1 : 1;
  const int exponent = (v >> 3) & 0xf;
  const int mantissa = v & 7;
  if (exponent == 0xf && mantissa == 7) return std::numeric_limits<double>::quiet_NaN();
  if (exponent == 0) return sign * std::ldexp(mantissa / 8.0, -6);
  return sign * std::ldexp(1.0 + mantissa / 8.0, exponent - 7);
}
}  // namespace

std::vector<double> dequantize(tsr_weight_format format, int64_t n, int64_t k, int64_t group,
                               const void* data, const float* scales) {
  std::vector<double> w(static_cast<size_t>(n * k));
  const auto* bytes = static_cast<const uint8_t*>(data);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      const size_t i = static_cast<size_t>(r * k + c);
      double v = 0.0;
      switch (format) {
        case TSR_WEIGHT_FORMAT_F32:
          v = static_cast<const float*>(data)[i];
          break;
        case TSR_WEIGHT_FORMAT_F16:
          v = tsr::sdk::f16_to_f32(static_cast<const uint16_t*>(data)[i]);
          break;
        case TSR_WEIGHT_FORMAT_BF16:
          v = tsr::sdk::bf16_to_f32(static_cast<const uint16_t*>(data)[i]);
          break;
        case TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL:
          v = static_cast<int8_t>(bytes[i]) * static_cast<double>(scales[r]);
          break;
        case TSR_WEIGHT_FORMAT_INT8_GROUP:
          v = static_cast<int8_t>(bytes[i]) *
              static_cast<double>(scales[r * (k / group) + c / group]);
          break;
        case TSR_WEIGHT_FORMAT_INT4_GROUP: {
          const uint8_t byte = bytes[static_cast<size_t>(r * (k / 2) + c / 2)];
          const int u = c % 2 == 0 ? (byte & 0xf) : (byte >> 4);
          v = (u - 8) * static_cast<double>(scales[r * (k / group) + c / group]);
          break;
        }
        case TSR_WEIGHT_FORMAT_FP8_E4M3:
          v = fp8_value(bytes[i]) * static_cast<double>(scales[r]);
          break;
        case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM:  // needs mins: linear_asym_test.cpp
        case TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM:
          v = std::nan("");
          break;
      }
      w[i] = v;
    }
  }
  return w;
}

std::vector<double> matmul(const std::vector<double>& x, const std::vector<double>& w, int64_t m,
                           int64_t n, int64_t k, const std::vector<double>* bias) {
  std::vector<double> out(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = bias != nullptr ? (*bias)[static_cast<size_t>(j)] : 0.0;
      for (int64_t c = 0; c < k; ++c) {
        acc += x[static_cast<size_t>(i * k + c)] * w[static_cast<size_t>(j * k + c)];
      }
      out[static_cast<size_t>(i * n + j)] = acc;
    }
  }
  return out;
}

std::vector<double> attention(const AttentionCase& c, const std::vector<float>& q,
                              const std::vector<std::vector<float>>& keys,
                              const std::vector<std::vector<float>>& values) {
  const int64_t tokens = c.query_start_loc.back();
  std::vector<double> out(static_cast<size_t>(tokens * c.hq * c.dim), 0.0);
  const int64_t group = c.hq / c.hkv;
  for (size_t s = 0; s < c.seq_lens.size(); ++s) {
    const int64_t q_len = c.query_start_loc[s + 1] - c.query_start_loc[s];
    for (int64_t i = 0; i < q_len; ++i) {
      const int64_t t = c.query_start_loc[s] + i;
      const int64_t pos = c.seq_lens[s] - q_len + i;
      const int64_t lo =
          c.sliding_window > 0 ? std::max<int64_t>(0, pos - c.sliding_window + 1) : 0;
      for (int64_t h = 0; h < c.hq; ++h) {
        const int64_t kvh = h / group;
        std::vector<double> scores;
        for (int64_t p = lo; p <= pos; ++p) {
          double dot = 0.0;
          for (int64_t d = 0; d < c.dim; ++d) {
            dot += static_cast<double>(q[static_cast<size_t>((t * c.hq + h) * c.dim + d)]) *
                   keys[s][static_cast<size_t>((p * c.hkv + kvh) * c.dim + d)];
          }
          double score = c.scale * dot;
          if (c.softcap > 0.0f) score = c.softcap * std::tanh(score / c.softcap);
          scores.push_back(score);
        }
        const double mx = *std::max_element(scores.begin(), scores.end());
        double sum = 0.0;
        for (double& sc : scores) {
          sc = std::exp(sc - mx);
          sum += sc;
        }
        for (int64_t p = lo; p <= pos; ++p) {
          const double wgt = scores[static_cast<size_t>(p - lo)] / sum;
          for (int64_t d = 0; d < c.dim; ++d) {
            out[static_cast<size_t>((t * c.hq + h) * c.dim + d)] +=
                wgt * values[s][static_cast<size_t>((p * c.hkv + kvh) * c.dim + d)];
          }
        }
      }
    }
  }
  return out;
}

}  // namespace tsr::test
