// F16 and BF16 weights kept 16-bit, and F32 weights, (linear_half.h) on every ISA path (cpu.isa =
// generic, avx2, avx512), over batch sizes that take the GEMV (1..15 rows, with partial 4-row
// weight blocks and partial activation chunks) and the tile + sgemm path (16 and more), and K with
// and without a vector tail, against x · W^T in double. Activations stay f32, so the bound of each
// output is f32 summation error only: gamma_k * sum_j |x_j w_j|, gamma_k = k u / (1 - k u), u =
// 2^-24. Where the CPU has AMX-BF16, BF16 weights of 16 rows or more with N and K multiples of
// 32 run on AMX tiles with each activation split into two bf16 halves (linear_half_amx.cpp),
// whose bound is (gamma_2k + 2^-18) * sum_j |x_j w_j|; the shapes 64 x 256 and 96 x 320 take
// that path there. Seeds are fixed and printed on failure.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "plugin_harness.h"
#include "reference.h"
#include "tessera/plugin.hpp"

namespace tsr::test {
namespace {

struct HalfCase {
  const char* isa;
  tsr_weight_format format;
};

class LinearHalf : public ::testing::TestWithParam<HalfCase> {};

double widen(tsr_weight_format format, uint16_t bits) {
  return format == TSR_WEIGHT_FORMAT_BF16 ? tsr::sdk::bf16_to_f32(bits)
                                          : tsr::sdk::f16_to_f32(bits);
}

size_t element_bytes(tsr_weight_format format) {
  return format == TSR_WEIGHT_FORMAT_F32 ? 4 : 2;
}

TEST_P(LinearHalf, KeepsSixteenBitsWithinF32SummationBound) {
  const HalfCase c = GetParam();
  // 3 threads: the pool splits the rows whatever OMP_NUM_THREADS the test runs under.
  Plugin p(Options{{"cpu.isa", c.isa}, {"cpu.num_threads", "3"}});
  if (p.active_isa() != c.isa) GTEST_SKIP() << "this CPU or build lacks " << c.isa;
  const bool amx = c.format == TSR_WEIGHT_FORMAT_BF16 && std::string(c.isa) == "avx512" &&
                   p.diag("cpu.isa").find("amx-bf16") != std::string::npos;
  struct Shape {
    int64_t n, k;
  };
  for (const Shape& sh : {Shape{37, 100}, Shape{64, 256}, Shape{96, 320}, Shape{5, 7}}) {
    const uint32_t seed = static_cast<uint32_t>(sh.n * 1000 + sh.k);
    const auto values = random_floats(static_cast<size_t>(sh.n * sh.k), seed);
    const std::vector<uint16_t> bits =
        c.format == TSR_WEIGHT_FORMAT_BF16 ? to_bf16(values) : to_f16(values);
    // The weights as the kernel sees them, exactly.
    std::vector<double> exact(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      exact[i] = c.format == TSR_WEIGHT_FORMAT_F32 ? values[i] : widen(c.format, bits[i]);
    }
    tsr_weight_desc d{};
    d.struct_size = sizeof d;
    d.format = c.format;
    d.rows = sh.n;
    d.cols = sh.k;
    d.data = c.format == TSR_WEIGHT_FORMAT_F32 ? static_cast<const void*>(values.data())
                                               : static_cast<const void*>(bits.data());
    d.compute_dtype = TSR_DTYPE_F32;
    tsr_weight_t weight = nullptr;
    ASSERT_TRUE(take(p.api().weight_prepack(p.device(), &d, &weight)).ok());
    uint64_t bytes = 0;
    ASSERT_TRUE(take(p.api().weight_bytes(weight, &bytes)).ok());
    EXPECT_EQ(bytes, static_cast<uint64_t>(sh.n * sh.k) * element_bytes(c.format))
        << "the weight was widened or repacked";
    // F32 takes the GEMV up to 127 rows.
    for (int64_t m : {1, 2, 3, 4, 5, 8, 15, 16, 33, 70, 127, 128}) {
      SCOPED_TRACE(std::string("isa ") + c.isa + " n " + std::to_string(sh.n) + " k " +
                   std::to_string(sh.k) + " m " + std::to_string(m) + " seed " +
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
      const double u = std::ldexp(1.0, -24);
      const bool on_amx = amx && m >= 16 && sh.n % 32 == 0 && sh.k % 32 == 0;
      const double gamma = on_amx ? 2 * sh.k * u / (1 - 2 * sh.k * u) + std::ldexp(1.0, -18)
                                  : sh.k * u / (1 - sh.k * u);
      int failures = 0;
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t r = 0; r < sh.n; ++r) {
          double expect = 0, magnitude = 0;
          for (int64_t j = 0; j < sh.k; ++j) {
            const double term =
                exact[static_cast<size_t>(r * sh.k + j)] * x[static_cast<size_t>(i * sh.k + j)];
            expect += term;
            magnitude += std::fabs(term);
          }
          const double got_v = got[static_cast<size_t>(i * sh.n + r)];
          // The output itself is an f32: its rounding (half an ulp) comes on top.
          const double bound = gamma * magnitude + std::fabs(expect) * u;
          if (!(std::fabs(got_v - expect) <= bound) && failures++ < 5) {
            ADD_FAILURE() << "out[" << i << "][" << r << "] = " << got_v << ", double " << expect
                          << ", error " << std::fabs(got_v - expect) << " > bound " << bound;
          }
        }
      }
    }
    EXPECT_TRUE(take(p.api().weight_destroy(weight)).ok());
  }
}

// Inf and NaN activations carry through as f32 arithmetic carries them, on the prefill path
// too (AMX, where the CPU has it, hands such calls to the f32 path): a row with one +Inf gives
// +-Inf where that column's weight is nonzero, a row with a NaN gives NaN, the other rows stay
// finite and close to the double product.
TEST_P(LinearHalf, NonFiniteActivationsCarryThrough) {
  const HalfCase c = GetParam();
  Plugin p(Options{{"cpu.isa", c.isa}});
  if (p.active_isa() != c.isa) GTEST_SKIP() << "this CPU or build lacks " << c.isa;
  const int64_t n = 64, k = 256, m = 20;
  const auto values = random_floats(static_cast<size_t>(n * k), 77);
  const std::vector<uint16_t> bits =
      c.format == TSR_WEIGHT_FORMAT_BF16 ? to_bf16(values) : to_f16(values);
  tsr_weight_desc d{};
  d.struct_size = sizeof d;
  d.format = c.format;
  d.rows = n;
  d.cols = k;
  d.data = c.format == TSR_WEIGHT_FORMAT_F32 ? static_cast<const void*>(values.data())
                                             : static_cast<const void*>(bits.data());
  d.compute_dtype = TSR_DTYPE_F32;
  tsr_weight_t weight = nullptr;
  ASSERT_TRUE(take(p.api().weight_prepack(p.device(), &d, &weight)).ok());
  auto x = random_floats(static_cast<size_t>(m * k), 78);
  x[3 * k + 10] = std::numeric_limits<float>::infinity();
  x[5 * k + 200] = std::numeric_limits<float>::quiet_NaN();
  tsr_linear_params lp{};
  lp.struct_size = sizeof lp;
  lp.x = p.upload(x, TSR_DTYPE_F32, {m, k});
  lp.weight = weight;
  lp.out = p.empty(TSR_DTYPE_F32, {m, n});
  ASSERT_TRUE(take(p.ops().linear(p.stream(), &lp)).ok());
  const auto got = p.download<float>(lp.out, static_cast<size_t>(m * n));
  for (int64_t r = 0; r < n; ++r) {
    const double w10 =
        c.format == TSR_WEIGHT_FORMAT_F32 ? values[r * k + 10] : widen(c.format, bits[r * k + 10]);
    if (w10 != 0.0) {
      EXPECT_TRUE(std::isinf(got[3 * n + r])) << "row 3, output " << r;
    }
    EXPECT_TRUE(std::isnan(got[5 * n + r])) << "row 5, output " << r;
    for (int64_t i : {0, 4, 19}) {
      double expect = 0;
      for (int64_t j = 0; j < k; ++j) {
        const double wj = c.format == TSR_WEIGHT_FORMAT_F32 ? values[r * k + j]
                                                            : widen(c.format, bits[r * k + j]);
        expect += wj * x[i * k + j];
      }
      EXPECT_NEAR(got[i * n + r], expect, 1e-3 * (1.0 + std::fabs(expect))) << "row " << i;
    }
  }
  EXPECT_TRUE(take(p.api().weight_destroy(weight)).ok());
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, LinearHalf,
                         ::testing::Values(HalfCase{"generic", TSR_WEIGHT_FORMAT_F16},
                                           HalfCase{"avx2", TSR_WEIGHT_FORMAT_F16},
                                           HalfCase{"avx512", TSR_WEIGHT_FORMAT_F16},
                                           HalfCase{"generic", TSR_WEIGHT_FORMAT_BF16},
                                           HalfCase{"avx2", TSR_WEIGHT_FORMAT_BF16},
                                           HalfCase{"avx512", TSR_WEIGHT_FORMAT_BF16},
                                           HalfCase{"generic", TSR_WEIGHT_FORMAT_F32},
                                           HalfCase{"avx2", TSR_WEIGHT_FORMAT_F32},
                                           HalfCase{"avx512", TSR_WEIGHT_FORMAT_F32}),
                         [](const auto& info) {
                           const tsr_weight_format f = info.param.format;
                           return std::string(info.param.isa) +
                                  (f == TSR_WEIGHT_FORMAT_BF16  ? "_bf16"
                                   : f == TSR_WEIGHT_FORMAT_F32 ? "_f32"
                                                                : "_f16");
                         });

}  // namespace
}  // namespace tsr::test
