// INT8_GROUP_ASYM (w = u * scale + min; GGUF Q5_1/Q5_K) on every ISA path (cpu.isa = generic,
// avx2, avx512) and both activation modes (int8 blocks, cpu.q8_activations=0), with codes below
// 32 (prepacked to 5-bit tiles, quant_tiles.h, at every batch size) and codes 0..255 (kept
// uint8: the GEMV, 1..kAsym8MaxRows rows per kernel call and remainders, and the tiled GEMM),
// against x · dequant(W)^T in double. The error bound of each output is derived from its data
// (see linear_asym8.h): activation rounding sum_j |u_j scale_j| * absmax(block(j)) / 254 where
// int8 activations are used, plus f32 rounding k * 2^-23 * sum_j |w_j x_j|. Seeds are fixed and
// printed on failure.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "plugin_harness.h"
#include "reference.h"

namespace tsr::test {
namespace {

// linear_asym8.h's kAsym8GemmMinRows: batches below it take the int8-activation GEMV.
constexpr int64_t kAsym8GemmMinRows = 32;

struct Asym8Weight {
  int64_t n, k, group;
  std::vector<uint8_t> codes;
  std::vector<float> scales, mins;

  size_t group_of(int64_t r, int64_t c) const {
    return static_cast<size_t>(r * (k / group) + c / group);
  }
  double scaled_code(int64_t r, int64_t c) const {
    return codes[static_cast<size_t>(r * k + c)] * static_cast<double>(scales[group_of(r, c)]);
  }
  double value(int64_t r, int64_t c) const {
    return scaled_code(r, c) + static_cast<double>(mins[group_of(r, c)]);
  }
};

Asym8Weight make_asym8(int64_t n, int64_t k, int64_t group, int code_max, uint32_t seed) {
  Asym8Weight w{n, k, group, {}, {}, {}};
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(0, code_max);
  w.codes.resize(static_cast<size_t>(n * k));
  for (auto& u : w.codes) u = static_cast<uint8_t>(code(rng));
  const float step = 0.3f / static_cast<float>(code_max);  // |u * scale| up to about 0.3
  w.scales = random_floats(static_cast<size_t>(n * (k / group)), seed + 1, step / 2, step);
  w.mins = random_floats(static_cast<size_t>(n * (k / group)), seed + 2, -0.15f, 0.0f);
  return w;
}

tsr_weight_t prepack(Plugin& p, const Asym8Weight& w) {
  tsr_weight_desc d{};
  d.struct_size = sizeof d;
  d.format = TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM;
  d.rows = w.n;
  d.cols = w.k;
  d.group_size = w.group;
  d.data = w.codes.data();
  d.scales = w.scales.data();
  d.mins = w.mins.data();
  d.compute_dtype = TSR_DTYPE_F32;
  tsr_weight_t out = nullptr;
  const Status s = take(p.api().weight_prepack(p.device(), &d, &out));
  EXPECT_TRUE(s.ok()) << s.message;
  return out;
}

// Failures of out (m x n) against the double reference and the bound of the header comment.
void expect_within_bound(const Asym8Weight& w, const std::vector<float>& x,
                         const std::vector<float>& got, int64_t m, bool int8_activations) {
  int failures = 0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t r = 0; r < w.n; ++r) {
      double expect = 0, magnitude = 0, activation_bound = 0;
      for (int64_t j = 0; j < w.k; ++j) {
        const double wv = w.value(r, j);
        const double xv = x[static_cast<size_t>(i * w.k + j)];
        expect += wv * xv;
        magnitude += std::fabs(wv * xv);
        if (int8_activations) {
          double absmax = 0;
          for (int64_t e = j / 32 * 32; e < j / 32 * 32 + 32; ++e) {
            absmax = std::max(absmax, std::fabs(double{x[static_cast<size_t>(i * w.k + e)]}));
          }
          activation_bound += std::fabs(w.scaled_code(r, j)) * absmax / 254 * (1 + 1e-5);
        }
      }
      const double bound =
          activation_bound + magnitude * static_cast<double>(w.k) * std::ldexp(1.0, -23);
      const double err = std::fabs(got[static_cast<size_t>(i * w.n + r)] - expect);
      if (!(err <= bound) && failures++ < 5) {
        ADD_FAILURE() << "out[" << i << "][" << r << "] = " << got[static_cast<size_t>(i * w.n + r)]
                      << ", double " << expect << ", error " << err << " > bound " << bound;
      }
    }
  }
}

struct Asym8Case {
  const char* isa;
  bool q8;
};

class LinearAsym8 : public ::testing::TestWithParam<Asym8Case> {};

TEST_P(LinearAsym8, WithinDerivedBoundOfDoubleReference) {
  const Asym8Case c = GetParam();
  Options options{{"cpu.isa", c.isa}};
  if (!c.q8) options["cpu.q8_activations"] = "0";
  Plugin p(options);
  if (p.active_isa() != c.isa) GTEST_SKIP() << "this CPU or build lacks " << c.isa;
  struct Shape {
    int64_t n, k, group;
  };
  // Group 32 (Q5_1, Q5_K), 64 (several blocks per group), an odd count of blocks (K = 96),
  // and group 16 with K = 48 (uint8 rows, float path).
  for (const Shape& sh :
       {Shape{40, 96, 32}, Shape{24, 256, 64}, Shape{17, 512, 32}, Shape{9, 48, 16}}) {
    for (const int code_max : {31, 255}) {
      const uint32_t seed = static_cast<uint32_t>(sh.k * 131 + sh.group + code_max);
      const Asym8Weight w = make_asym8(sh.n, sh.k, sh.group, code_max, seed);
      tsr_weight_t weight = prepack(p, w);
      ASSERT_NE(weight, nullptr);
      const bool integer_shape = sh.k % 32 == 0 && sh.group % 32 == 0;
      const bool five_bit = integer_shape && code_max < 32;
      uint64_t bytes = 0;
      ASSERT_TRUE(take(p.api().weight_bytes(weight, &bytes)).ok());
      // 5-bit tiles (quant_tiles.h): rows padded to 16, 40 bytes of codes per 64 weights, the
      // scales and mins per group of each padded row.
      const int64_t padded = (sh.n + 15) / 16 * 16;
      const int64_t expected_bytes = five_bit
                                         ? padded * sh.k * 5 / 8 + 8 * padded * (sh.k / sh.group)
                                         : sh.n * sh.k + 8 * static_cast<int64_t>(w.scales.size());
      EXPECT_EQ(bytes, static_cast<uint64_t>(expected_bytes));
      for (int64_t m : {int64_t{1}, int64_t{3}, int64_t{4}, int64_t{6}, int64_t{16}, int64_t{21},
                        kAsym8GemmMinRows + 1}) {
        SCOPED_TRACE("isa " + std::string(c.isa) + (c.q8 ? " q8" : " f32") + " n " +
                     std::to_string(sh.n) + " k " + std::to_string(sh.k) + " group " +
                     std::to_string(sh.group) + " codes <= " + std::to_string(code_max) + " m " +
                     std::to_string(m) + " seed " + std::to_string(seed));
        const auto x =
            random_floats(static_cast<size_t>(m * sh.k), seed + static_cast<uint32_t>(m));
        tsr_linear_params lp{};
        lp.struct_size = sizeof lp;
        lp.x = p.upload(x, TSR_DTYPE_F32, {m, sh.k});
        lp.weight = weight;
        lp.out = p.empty(TSR_DTYPE_F32, {m, sh.n});
        const Status s = take(p.ops().linear(p.stream(), &lp));
        ASSERT_TRUE(s.ok()) << s.message;
        const auto got = p.download<float>(lp.out, static_cast<size_t>(m * sh.n));
        // 5-bit tiles quantize the activations at every batch size; uint8 rows below
        // kAsym8GemmMinRows.
        expect_within_bound(w, x, got, m,
                            c.q8 && integer_shape && (five_bit || m < kAsym8GemmMinRows));
      }
      EXPECT_TRUE(take(p.api().weight_destroy(weight)).ok());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, LinearAsym8,
                         ::testing::Values(Asym8Case{"generic", true}, Asym8Case{"avx2", true},
                                           Asym8Case{"avx512", true}, Asym8Case{"generic", false},
                                           Asym8Case{"avx2", false}, Asym8Case{"avx512", false}),
                         [](const auto& info) {
                           return std::string(info.param.isa) + (info.param.q8 ? "_q8" : "_f32");
                         });

TEST(LinearAsym8Desc, RejectsMissingMinsAndBadGroups) {
  Plugin p;
  const Asym8Weight w = make_asym8(4, 64, 32, 31, 1);
  tsr_weight_desc d{};
  d.struct_size = sizeof d;
  d.format = TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM;
  d.rows = 4;
  d.cols = 64;
  d.group_size = 32;
  d.data = w.codes.data();
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
  EXPECT_NE(s.message.find("group_size"), std::string::npos) << s.message;
  d.group_size = 32;
  d.struct_size = offsetof(tsr_weight_desc, mins);  // an ABI 1.0 host cannot pass mins
  s = take(p.api().weight_prepack(p.device(), &d, &out));
  EXPECT_EQ(s.code, TSR_ERROR_CODE_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace tsr::test
