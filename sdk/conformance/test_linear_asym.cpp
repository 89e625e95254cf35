// linear with INT4_GROUP_ASYM weights (ABI 1.1; w = u * scale + min per group): against
// x · dequant(W)^T in float64, where the device declares the format. Kept apart from
// test_linear.cpp because the descriptor carries `mins` and the error bound is this format's.
//
// The bound per output is derived from the data: a kernel may quantize activations to int8
// per block of 32 (|x - x~| <= absmax(block) / 127 for any rounding of x / (absmax / 127)),
// costing at most sum_j |w_j| * absmax(block(j)) / 127; it may compute in f32
// (k * 2^-23 * sum_j |w_j x_j|, a generous form of the standard dot-product bound) or keep
// weights and activations in a 16-bit compute dtype (that dtype's relative step times
// sum_j |w_j x_j|); and a 16-bit output rounds once more (half its step of |y|).
#include <algorithm>
#include <cmath>

#include "harness.h"
#include "reference_ops.h"

namespace tsr::conformance {
namespace {

class LinearAsym : public ConformanceTest {};

double relative_step(tsr_dtype dt) {
  return dt == TSR_DTYPE_BF16  ? std::ldexp(1.0, -8)
         : dt == TSR_DTYPE_F16 ? std::ldexp(1.0, -11)
                               : 0;
}

TEST_F(LinearAsym, MatchesFloat64WithinActivationRoundingBound) {
  TSR_REQUIRE_OP(TSR_OP_LINEAR);
  if (!(plugin().props.weight_formats & TSR_WEIGHT_FORMAT_BIT(TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM))) {
    GTEST_SKIP() << "INT4_GROUP_ASYM not declared";
  }
  CaseSkips skips(TSR_OP_LINEAR);
  struct Shape {
    int64_t m, n, k, group;
  };
  // Decode-sized and prefill-sized M, groups of 32 (GGUF Q4_1) and 64, and a K that is not a
  // multiple of 32 (group 16).
  const std::vector<Shape> shapes = {{1, 7, 64, 32},     {3, 33, 128, 32}, {1, 65, 256, 64},
                                     {17, 129, 256, 32}, {2, 9, 48, 16},   {9, 12, 48, 16}};
  for (tsr_dtype dt : activation_dtypes()) {
    for (const Shape& sh : shapes) {
      const std::string name = std::string(dtype_label(dt)) + " M=" + std::to_string(sh.m) +
                               " N=" + std::to_string(sh.n) + " K=" + std::to_string(sh.k) +
                               " group=" + std::to_string(sh.group);
      SCOPED_TRACE(name);
      const int64_t groups = sh.n * (sh.k / sh.group);
      std::vector<uint8_t> data(static_cast<size_t>(sh.n * sh.k / 2));
      for (uint8_t& b : data) b = static_cast<uint8_t>(random_int(0, 255));
      const double stddev = 1.0 / std::sqrt(static_cast<double>(sh.k));
      std::vector<float> scales, mins;
      for (int64_t g = 0; g < groups; ++g) {
        scales.push_back(static_cast<float>(random_uniform(1, 0.5, 1.5)[0] * stddev / 8));
        mins.push_back(static_cast<float>(-random_uniform(1, 0.5, 1.5)[0] * stddev));
      }
      tsr_weight_desc desc{};
      desc.struct_size = sizeof desc;
      desc.format = TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM;
      desc.rows = sh.n;
      desc.cols = sh.k;
      desc.group_size = sh.group;
      desc.data = data.data();
      desc.scales = scales.data();
      desc.mins = mins.data();
      desc.compute_dtype = dt;
      tsr_weight_t weight = nullptr;
      const Status st = take(api().weight_prepack(device(), &desc, &weight));
      if (!st.ok && st.code == TSR_ERROR_CODE_UNIMPLEMENTED) {
        skips.declined(name + " (prepack: " + st.message + ")");
        continue;
      }
      ASSERT_TRUE(st.ok) << "weight_prepack: " << code_name(st.code) << ": " << st.message;
      Stream s;
      Tensor x(s, dt, {sh.m, sh.k}, "x"), out(s, dt, {sh.m, sh.n}, "out");
      tsr_linear_params p{sizeof(tsr_linear_params), x.view(), weight, absent_tensor(), out.view()};
      const std::vector<double> xv = rounded(dt, random_normal(sh.m * sh.k));
      x.upload(xv);
      if (!op_supported_for(TSR_OP_LINEAR, &p)) {
        skips.declined(name);
        TSR_EXPECT_OK(api().weight_destroy(weight));
        continue;
      }
      skips.ran();
      TSR_EXPECT_OK(api().ops->linear(s.get(), &p));
      s.sync();
      const std::vector<double> w = ref::dequantize(TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, sh.n, sh.k,
                                                    sh.group, data, scales, mins);
      const std::vector<double> expect = ref::linear(xv, w, {}, sh.m, sh.n, sh.k);
      const std::vector<double> got = out.values();
      int reported = 0;
      for (int64_t i = 0; i < sh.m; ++i) {
        for (int64_t j = 0; j < sh.n; ++j) {
          double act_bound = 0, magnitude = 0;
          for (int64_t c = 0; c < sh.k; ++c) {
            const int64_t block = c / 32 * 32;
            double absmax = 0;
            for (int64_t e = block; e < std::min(block + 32, sh.k); ++e) {
              absmax = std::max(absmax, std::fabs(xv[i * sh.k + e]));
            }
            act_bound += std::fabs(w[j * sh.k + c]) * absmax / 127;
            magnitude += std::fabs(w[j * sh.k + c] * xv[i * sh.k + c]);
          }
          const double y = expect[i * sh.n + j];
          const double bound = act_bound + magnitude * (sh.k * std::ldexp(1.0, -23)) +
                               magnitude * relative_step(dt) + std::fabs(y) * relative_step(dt);
          const double err = std::fabs(got[i * sh.n + j] - y);
          if (!(err <= bound) && reported++ < 5) {
            ADD_FAILURE() << "out[" << i << "][" << j << "] = " << got[i * sh.n + j] << ", float64 "
                          << y << ", error " << err << " > bound " << bound;
          }
        }
      }
      x.check_guards();
      out.check_guards();
      TSR_EXPECT_OK(api().weight_destroy(weight));
    }
  }
  TSR_FINISH_CASES(skips);
}

TEST_F(LinearAsym, MissingMinsIsRejected) {
  if (!(plugin().props.weight_formats & TSR_WEIGHT_FORMAT_BIT(TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM))) {
    GTEST_SKIP() << "INT4_GROUP_ASYM not declared";
  }
  std::vector<uint8_t> data(8 * 32 / 2, 0x5a);
  std::vector<float> scales(8, 0.1f);
  tsr_weight_desc desc{};
  desc.struct_size = sizeof desc;
  desc.format = TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM;
  desc.rows = 8;
  desc.cols = 32;
  desc.group_size = 32;
  desc.data = data.data();
  desc.scales = scales.data();
  desc.mins = nullptr;
  desc.compute_dtype = activation_dtypes().at(0);
  tsr_weight_t w = nullptr;
  EXPECT_TRUE(failed_with(take(api().weight_prepack(device(), &desc, &w)),
                          {TSR_ERROR_CODE_INVALID_ARGUMENT}))
      << "mins NULL";
  desc.mins = scales.data();
  desc.struct_size = offsetof(tsr_weight_desc, mins);  // an ABI 1.0 descriptor
  EXPECT_TRUE(failed_with(take(api().weight_prepack(device(), &desc, &w)),
                          {TSR_ERROR_CODE_INVALID_ARGUMENT}))
      << "descriptor too small to carry mins";
}

}  // namespace
}  // namespace tsr::conformance
