// Prepacked weight formats (f32, f16, bf16, int8 per-channel and group, int4 group, fp8)
// against dequantize-then-matmul in double, over batch sizes that take both the GEMV and
// the tiled-GEMM paths, with f32 and bf16 activations, bias and f32 logits output.
#include <gtest/gtest.h>

#include <random>

#include "plugin_harness.h"
#include "reference.h"
#include "tessera/plugin.hpp"

namespace tsr::test {
namespace {

struct CanonicalWeight {
  tsr_weight_format format;
  int64_t n;
  int64_t k;
  int64_t group;
  std::vector<uint8_t> data;
  std::vector<float> scales;
};

CanonicalWeight make_weight(tsr_weight_format format, int64_t n, int64_t k, int64_t group,
                            uint32_t seed) {
  CanonicalWeight w{format, n, k, group, {}, {}};
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  const auto values = random_floats(static_cast<size_t>(n * k), seed);
  auto put = [&w](const void* p, size_t bytes) {
    w.data.assign(static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + bytes);
  };
  switch (format) {
    case TSR_WEIGHT_FORMAT_F32:
      put(values.data(), values.size() * 4);
      break;
    case TSR_WEIGHT_FORMAT_F16: {
      const auto h = to_f16(values);
      put(h.data(), h.size() * 2);
      break;
    }
    case TSR_WEIGHT_FORMAT_BF16: {
      const auto h = to_bf16(values);
      put(h.data(), h.size() * 2);
      break;
    }
    case TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL:
    case TSR_WEIGHT_FORMAT_INT8_GROUP:
    case TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM:  // mins: linear_asym_test.cpp
    case TSR_WEIGHT_FORMAT_FP8_E4M3:
      w.data.resize(static_cast<size_t>(n * k));
      for (auto& b : w.data) {
        do {
          b = static_cast<uint8_t>(byte(rng));
        } while (format == TSR_WEIGHT_FORMAT_FP8_E4M3 && (b & 0x7f) == 0x7f);
      }
      break;
    case TSR_WEIGHT_FORMAT_INT4_GROUP:
    case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM:  // mins: linear_asym_test.cpp
      w.data.resize(static_cast<size_t>(n * k / 2));
      for (auto& b : w.data) b = static_cast<uint8_t>(byte(rng));
      break;
  }
  size_t scale_count = 0;
  if (format == TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL || format == TSR_WEIGHT_FORMAT_FP8_E4M3) {
    scale_count = static_cast<size_t>(n);
  } else if (format == TSR_WEIGHT_FORMAT_INT8_GROUP || format == TSR_WEIGHT_FORMAT_INT4_GROUP) {
    scale_count = static_cast<size_t>(n * (k / group));
  }
  w.scales = random_floats(scale_count, seed + 1, 0.01f, 0.05f);
  return w;
}

tsr_weight_t prepack(Plugin& p, const CanonicalWeight& w, tsr_dtype compute) {
  tsr_weight_desc d{};
  d.struct_size = sizeof d;
  d.format = w.format;
  d.rows = w.n;
  d.cols = w.k;
  d.group_size = w.group;
  d.data = w.data.data();
  d.scales = w.scales.empty() ? nullptr : w.scales.data();
  d.compute_dtype = compute;
  tsr_weight_t out = nullptr;
  const Status s = take(p.api().weight_prepack(p.device(), &d, &out));
  EXPECT_TRUE(s.ok()) << s.message;
  return out;
}

struct LinearCase {
  tsr_weight_format format;
  int64_t group;
};

class LinearFormats : public ::testing::TestWithParam<LinearCase> {
 protected:
  void check_formats(const Options& options, bool q8);
};

// With cpu.q8_activations=0 every path keeps f32 activations and matches the dequantized
// weight to 1e-5. By default, int8/int4 weights with whole 32-blocks quantize the
// activations to int8 per block (integer tile kernels, every M) and stay within 1e-2
// (quant_tiles_test.cpp checks the kernels' exact bound).
TEST_P(LinearFormats, MatchesDequantizedDoubleReference) {
  for (const bool q8 : {false, true}) {
    SCOPED_TRACE(q8 ? "int8 activations (default)" : "cpu.q8_activations=0");
    Options options;
    if (!q8) options["cpu.q8_activations"] = "0";
    check_formats(options, q8);
  }
}

void LinearFormats::check_formats(const Options& options, bool q8) {
  Plugin p(options);
  const LinearCase c = GetParam();
  const int64_t n = 40;
  const int64_t k = 96;
  const CanonicalWeight w = make_weight(c.format, n, k, c.group, 7);
  const bool integer_format =
      c.format == TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL ||
      ((c.format == TSR_WEIGHT_FORMAT_INT8_GROUP || c.format == TSR_WEIGHT_FORMAT_INT4_GROUP) &&
       c.group % 32 == 0);
  auto int8_activations = [&](int64_t) { return q8 && integer_format; };
  const std::vector<double> wd = dequantize(w.format, n, k, w.group, w.data.data(),
                                            w.scales.empty() ? nullptr : w.scales.data());
  for (tsr_dtype compute : {TSR_DTYPE_F32, TSR_DTYPE_BF16}) {
    tsr_weight_t weight = prepack(p, w, compute);
    ASSERT_NE(weight, nullptr);
    uint64_t bytes = 0;
    ASSERT_TRUE(take(p.api().weight_bytes(weight, &bytes)).ok());
    EXPECT_GT(bytes, 0u);
    if (w.format == TSR_WEIGHT_FORMAT_INT4_GROUP) {
      // Tiled (group 32) weights pad the rows to a multiple of 16.
      const int64_t rows = c.group % 32 == 0 ? (n + 15) / 16 * 16 : n;
      EXPECT_EQ(bytes, static_cast<uint64_t>(rows * k / 2 + rows * (k / c.group) * 4));
    }
    for (int64_t m : {1, 3, 9, 33}) {
      const auto xf = random_floats(static_cast<size_t>(m * k), static_cast<uint32_t>(m));
      const auto bias = random_floats(static_cast<size_t>(n), 99);
      std::vector<double> bias_d(bias.begin(), bias.end());
      // f32 activations, f32 output, with bias.
      {
        tsr_linear_params lp{};
        lp.struct_size = sizeof lp;
        lp.x = p.upload(xf, TSR_DTYPE_F32, {m, k});
        lp.weight = weight;
        lp.bias = p.upload(bias, TSR_DTYPE_F32, {n});
        lp.out = p.empty(TSR_DTYPE_F32, {m, n});
        const Status s = take(p.ops().linear(p.stream(), &lp));
        ASSERT_TRUE(s.ok()) << s.message;
        const auto ref = matmul(std::vector<double>(xf.begin(), xf.end()), wd, m, n, k, &bias_d);
        // bf16 compute may round f32 weights/activations to bf16 (where oneDNN has bf16).
        const double tol = compute == TSR_DTYPE_BF16 || int8_activations(m) ? 1e-2 : 1e-5;
        EXPECT_LT(normalized_error(p.download<float>(lp.out, static_cast<size_t>(m * n)), ref), tol)
            << "format " << c.format << " m " << m << " compute " << compute;
      }
      // bf16 activations: bf16 output and f32 (logits) output.
      {
        const auto xb = to_bf16(xf);
        const auto xr = from_bf16(xb);
        const auto bb = to_bf16(bias);
        const auto br = from_bf16(bb);
        std::vector<double> bias_r(br.begin(), br.end());
        const auto ref = matmul(std::vector<double>(xr.begin(), xr.end()), wd, m, n, k, &bias_r);
        for (tsr_dtype out_dtype : {TSR_DTYPE_BF16, TSR_DTYPE_F32}) {
          tsr_linear_params lp{};
          lp.struct_size = sizeof lp;
          lp.x = p.upload(xb, TSR_DTYPE_BF16, {m, k});
          lp.weight = weight;
          lp.bias = p.upload(bb, TSR_DTYPE_BF16, {n});
          lp.out = p.empty(out_dtype, {m, n});
          const Status s = take(p.ops().linear(p.stream(), &lp));
          ASSERT_TRUE(s.ok()) << s.message;
          std::vector<float> got;
          if (out_dtype == TSR_DTYPE_BF16) {
            got = from_bf16(p.download<uint16_t>(lp.out, static_cast<size_t>(m * n)));
          } else {
            got = p.download<float>(lp.out, static_cast<size_t>(m * n));
          }
          const double tol =
              out_dtype == TSR_DTYPE_BF16 || compute == TSR_DTYPE_BF16 || int8_activations(m)
                  ? 1e-2
                  : 1e-5;
          EXPECT_LT(normalized_error(got, ref), tol)
              << "format " << c.format << " m " << m << " out " << out_dtype;
        }
      }
    }
    EXPECT_TRUE(take(p.api().weight_destroy(weight)).ok());
  }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, LinearFormats,
                         ::testing::Values(LinearCase{TSR_WEIGHT_FORMAT_F32, 0},
                                           LinearCase{TSR_WEIGHT_FORMAT_F16, 0},
                                           LinearCase{TSR_WEIGHT_FORMAT_BF16, 0},
                                           LinearCase{TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL, 0},
                                           LinearCase{TSR_WEIGHT_FORMAT_INT8_GROUP, 32},
                                           LinearCase{TSR_WEIGHT_FORMAT_INT8_GROUP, 6},
                                           LinearCase{TSR_WEIGHT_FORMAT_INT4_GROUP, 32},
                                           LinearCase{TSR_WEIGHT_FORMAT_INT4_GROUP, 6},
                                           LinearCase{TSR_WEIGHT_FORMAT_FP8_E4M3, 0}));

TEST(Linear, F16ActivationsAndLeadingDims) {
  Plugin p;
  const int64_t n = 24;
  const int64_t k = 48;
  const CanonicalWeight w = make_weight(TSR_WEIGHT_FORMAT_F32, n, k, 0, 3);
  tsr_weight_t weight = prepack(p, w, TSR_DTYPE_F16);
  const auto wd = dequantize(w.format, n, k, 0, w.data.data(), nullptr);
  const auto xf = random_floats(static_cast<size_t>(2 * 3 * k), 5);
  const auto xh = to_f16(xf);
  const auto xr = from_f16(xh);
  tsr_linear_params lp{};
  lp.struct_size = sizeof lp;
  lp.x = p.upload(xh, TSR_DTYPE_F16, {2, 3, k});
  lp.weight = weight;
  lp.out = p.empty(TSR_DTYPE_F16, {2, 3, n});
  ASSERT_TRUE(take(p.ops().linear(p.stream(), &lp)).ok());
  const auto ref = matmul(std::vector<double>(xr.begin(), xr.end()), wd, 6, n, k);
  EXPECT_LT(
      normalized_error(from_f16(p.download<uint16_t>(lp.out, static_cast<size_t>(6 * n))), ref),
      2e-3);
  EXPECT_TRUE(take(p.api().weight_destroy(weight)).ok());
}

}  // namespace
}  // namespace tsr::test
