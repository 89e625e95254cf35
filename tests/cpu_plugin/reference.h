// Straightforward double-precision references and data helpers for the CPU plugin tests.
// Written independently of the plugin's code (no shared kernels).
#ifndef TESSERA_TESTS_CPU_PLUGIN_REFERENCE_H
#define TESSERA_TESTS_CPU_PLUGIN_REFERENCE_H

#include <cstdint>
#include <vector>

#include "tessera/plugin.h"

namespace tsr::test {

std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);
std::vector<uint16_t> to_bf16(const std::vector<float>& v);
std::vector<float> from_bf16(const std::vector<uint16_t>& v);
std::vector<uint16_t> to_f16(const std::vector<float>& v);
std::vector<float> from_f16(const std::vector<uint16_t>& v);

// sqrt(sum (a-e)^2) / sqrt(sum e^2): the normalized error the conformance suite uses.
double normalized_error(const std::vector<float>& actual, const std::vector<double>& expected);
double normalized_error(const std::vector<float>& actual, const std::vector<float>& expected);

// W [n][k] in double from a canonical weight (plugin.h's tsr_weight_format layouts).
std::vector<double> dequantize(tsr_weight_format format, int64_t n, int64_t k, int64_t group,
                               const void* data, const float* scales);
// out [m][n] = x [m][k] · W^T (+ bias).
std::vector<double> matmul(const std::vector<double>& x, const std::vector<double>& w, int64_t m,
                           int64_t n, int64_t k, const std::vector<double>* bias = nullptr);

struct AttentionCase {
  int64_t hq = 0;
  int64_t hkv = 0;
  int64_t dim = 0;
  std::vector<int32_t> query_start_loc;
  std::vector<int32_t> seq_lens;
  float scale = 1.0f;
  int32_t sliding_window = 0;
  float softcap = 0.0f;
};
// q [T][hq][dim]; keys/values per sequence: [seq_len][hkv][dim] (position-major).
std::vector<double> attention(const AttentionCase& c, const std::vector<float>& q,
                              const std::vector<std::vector<float>>& keys,
                              const std::vector<std::vector<float>>& values);

}  // namespace tsr::test

#endif  // TESSERA_TESTS_CPU_PLUGIN_REFERENCE_H
