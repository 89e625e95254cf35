// INT4_GROUP_ASYM (w = u * scale + min; GGUF Q4_1) on every ISA path (cpu.isa = generic, avx2,
// avx512) and both activation modes (int8 blocks, cpu.q8_activations=0), over batch sizes that
// take the GEMV and the tiled-GEMM paths, against x · dequant(W)^T in double. The error bound
// of each output is derived from its data (see linear_asym.h): activation rounding
// sum_j |w_j| * absmax(block(j)) / 254 where int8 activations are used, plus f32 rounding
// k * 2^-23 * sum_j |w_j x_j|. Seeds are fixed and printed on failure.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "plugin_harness.h"
#include "reference.h"

namespace tsr::test {
namespace {

// linear_asym.cpp's kAsymGemmMinRows: shapes that are not tiled take the int8-activation
// GEMV below it and dequantize + sgemm at and above it; tiled shapes (K and group multiples of
// 32) take the int8 tile kernels at every M.
constexpr int64_t kAsymGemmMinRows = 32;

struct AsymWeight {
  int64_t n, k, group;
  std::vector<uint8_t> data;
  std::vector<float> scales, mins;

  double value(int64_t r, int64_t c) const {
    const uint8_t byte = data[static_cast<size_t>(r * (k / 2) + c / 2)];
    const int u = c % 2 == 0 ? (byte & 0x0f) : (byte >> 4);
    const size_t g = static_cast<size_t>(r * (k / group) + c / group);
    return u * static_cast<double>(scales[g]) + static_cast<double>(mins[g]);
  }
};

AsymWeight make_asym(int64_t n, int64_t k, int64_t group, uint32_t seed) {
  AsymWeight w{n, k, group, {}, {}, {}};
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  w.data.resize(static_cast<size_t>(n * k / 2));
  for (auto& b : w.data) b = static_cast<uint8_t>(byte(rng));
  w.scales = random_floats(static_cast<size_t>(n * (k / group)), seed + 1, 0.005f, 0.02f);
  w.mins = random_floats(static_cast<size_t>(n * (k / group)), seed + 2, -0.15f, 0.0f);
  return w;
}

tsr_weight_t prepack(Plugin& p, const AsymWeight& w) {
  tsr_weight_desc d{};
  d.struct_size = sizeof d;
  d.format = TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM;
  d.rows = w.n;
  d.cols = w.k;
  d.group_size = w.group;
  d.data = w.data.data();
  d.scales = w.scales.data();
  d.mins = w.mins.data();
  d.compute_dtype = TSR_DTYPE_F32;
  tsr_weight_t out = nullptr;
  const Status s = take(p.api().weight_prepack(p.device(), &d, &out));
  EXPECT_TRUE(s.ok()) << s.message;
  return out;
}

struct AsymCase {
  const char* isa;
  bool q8;
};

class LinearAsym : public ::testing::TestWithParam<AsymCase> {};

TEST_P(LinearAsym, WithinDerivedBoundOfDoubleReference) {
  const AsymCase c = GetParam();
  Options options{{"cpu.isa", c.isa}};
  if (!c.q8) options["cpu.q8_activations"] = "0";
  Plugin p(options);
  if (p.active_isa() != c.isa) GTEST_SKIP() << "this CPU or build lacks " << c.isa;
  struct Shape {
    int64_t n, k, group;
  };
  // Group 32 (Q4_1), 64 (several blocks per group), 16 with K = 96 (Q2_K: split tiles), 16
  // with K = 48 (pair-packed float path).
  for (const Shape& sh :
       {Shape{40, 96, 32}, Shape{24, 256, 64}, Shape{40, 96, 16}, Shape{9, 48, 16}}) {
    const uint32_t seed = static_cast<uint32_t>(sh.k * 131 + sh.group);
    const AsymWeight w = make_asym(sh.n, sh.k, sh.group, seed);
    tsr_weight_t weight = prepack(p, w);
    ASSERT_NE(weight, nullptr);
    uint64_t bytes = 0;
    ASSERT_TRUE(take(p.api().weight_bytes(weight, &bytes)).ok());
    const bool integer_shape = sh.k % 32 == 0 && (sh.group % 32 == 0 || sh.group == 16);
    // Tiles pad n to a multiple of 16 rows (weights, scales and mins).
    const int64_t stored_rows = integer_shape ? (sh.n + 15) / 16 * 16 : sh.n;
    EXPECT_EQ(bytes, static_cast<uint64_t>(stored_rows * sh.k / 2) +
                         8 * static_cast<uint64_t>(stored_rows * (sh.k / sh.group)));
    for (int64_t m : {int64_t{1}, int64_t{3}, int64_t{9}, int64_t{20}, kAsymGemmMinRows + 1}) {
      SCOPED_TRACE("isa " + std::string(c.isa) + (c.q8 ? " q8" : " f32") + " n " +
                   std::to_string(sh.n) + " k " + std::to_string(sh.k) + " group " +
                   std::to_string(sh.group) + " m " + std::to_string(m) + " seed " +
                   std::to_string(seed));
      const auto x = random_floats(static_cast<size_t>(m * sh.k), seed + static_cast<uint32_t>(m));
      tsr_linear_params lp{};
      lp.struct_size = sizeof lp;
      lp.x = p.upload(x, TSR_DTYPE_F32, {m, sh.k});
      lp.weight = weight;
      lp.out = p.empty(TSR_DTYPE_F32, {m, sh.n});
      const Status s = take(p.ops().linear(p.stream(), &lp));
      ASSERT_TRUE(s.ok()) << s.message;
      const auto got = p.download<float>(lp.out, static_cast<size_t>(m * sh.n));
      const bool int8_activations = c.q8 && integer_shape;
      int failures = 0;
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t r = 0; r < sh.n; ++r) {
          double expect = 0, magnitude = 0, activation_bound = 0;
          for (int64_t j = 0; j < sh.k; ++j) {
            const double wv = w.value(r, j);
            const double xv = x[static_cast<size_t>(i * sh.k + j)];
            expect += wv * xv;
            magnitude += std::fabs(wv * xv);
            if (int8_activations) {
              double absmax = 0;
              for (int64_t e = j / 32 * 32; e < j / 32 * 32 + 32; ++e) {
                absmax = std::max(absmax, std::fabs(double{x[static_cast<size_t>(i * sh.k + e)]}));
              }
              activation_bound += std::fabs(wv) * absmax / 254 * (1 + 1e-5);
            }
          }
          const double bound =
              activation_bound + magnitude * static_cast<double>(sh.k) * std::ldexp(1.0, -23);
          const double err = std::fabs(got[static_cast<size_t>(i * sh.n + r)] - expect);
          if (!(err <= bound) && failures++ < 5) {
            ADD_FAILURE() << "out[" << i << "][" << r
                          << "] = " << got[static_cast<size_t>(i * sh.n + r)] << ", double "
                          << expect << ", error " << err << " > bound " << bound;
          }
        }
      }
    }
    EXPECT_TRUE(take(p.api().weight_destroy(weight)).ok());
  }
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, LinearAsym,
                         ::testing::Values(AsymCase{"generic", true}, AsymCase{"avx2", true},
                                           AsymCase{"avx512", true}, AsymCase{"generic", false},
                                           AsymCase{"avx2", false}, AsymCase{"avx512", false}),
                         [](const auto& info) {
                           return std::string(info.param.isa) + (info.param.q8 ? "_q8" : "_f32");
                         });

TEST(LinearAsymDesc, RejectsMissingMinsAndBadGroups) {
  Plugin p;
  const AsymWeight w = make_asym(4, 64, 32, 1);
  tsr_weight_desc d{};
  d.struct_size = sizeof d;
  d.format = TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM;
  d.rows = 4;
  d.cols = 64;
  d.group_size = 32;
  d.data = w.data.data();
  d.scales = w.scales.data();
  d.compute_dtype = TSR_DTYPE_F32;
  tsr_weight_t out = nullptr;
  Status s = take(p.api().weight_prepack(p.device(), &d, &out));
  EXPECT_EQ(s.code, TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_NE(s.message.find("mins"), std::string::npos) << s.message;
  d.mins = w.mins.data();
  d.group_size = 24;  // does not divide 64
  s = take(p.api().weight_prepack(p.device(), &d, &out));
  EXPECT_EQ(s.code, TSR_ERROR_CODE_INVALID_ARGUMENT);
  d.group_size = 32;
  d.struct_size = offsetof(tsr_weight_desc, mins);  // an ABI 1.0 host cannot pass mins
  s = take(p.api().weight_prepack(p.device(), &d, &out));
  EXPECT_EQ(s.code, TSR_ERROR_CODE_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace tsr::test
