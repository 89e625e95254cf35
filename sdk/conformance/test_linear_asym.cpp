// linear with the asymmetric group formats, w = u * scale + min per group: INT4_GROUP_ASYM
// (ABI 1.1, GGUF Q4_1/Q4_K) and INT8_GROUP_ASYM (ABI 1.2, GGUF Q5_1/Q5_K), against
// x · dequant(W)^T in float64, where the device declares the format. INT8_GROUP_ASYM runs with
// codes below 32 (what GGUF Q5 remaps give; a plugin may keep them in 5 bits) and with codes
// 0..255. Kept apart from test_linear.cpp because the descriptor carries `mins` and the error
// bound is these formats'.
//
// The bound per output is derived from the data: a kernel may quantize activations to int8
// per block of 32 (|x - x~| <= absmax(block) / 127 for any rounding of x / (absmax / 127)) and
// apply them to the whole weight, to the u * scale part only (the min term from exact sums),
// or to both parts separately, costing at most sum_j (|u_j scale_j| + |min_j|) *
// absmax(block(j)) / 127 in every case; it may compute in f32 (k * 2^-23 * sum_j |w_j x_j|, a
// generous form of the standard dot-product bound) or keep weights and activations in a
// 16-bit compute dtype (that dtype's relative step times sum_j |w_j x_j|); and a 16-bit output
// rounds once more (half its step of |y|).
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

struct AsymFormat {
  tsr_weight_format format;
  int code_max;  // codes are drawn from 0..code_max
  const char* label;
};

const AsymFormat kAsymFormats[] = {
    {TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, 15, "int4_group_asym"},
    {TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM, 31, "int8_group_asym codes<32"},
    {TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM, 255, "int8_group_asym codes<256"},
};

bool declared(tsr_weight_format f) {
  return (plugin().props.weight_formats & TSR_WEIGHT_FORMAT_BIT(f)) != 0;
}

struct Shape {
  int64_t m, n, k, group;
};

struct AsymWeight {
  std::vector<uint8_t> data;   // the canonical bytes
  std::vector<uint8_t> codes;  // u per element [n][k]
  std::vector<float> scales, mins;
};

AsymWeight random_asym_weight(const AsymFormat& f, const Shape& sh) {
  AsymWeight w;
  w.codes.resize(static_cast<size_t>(sh.n * sh.k));
  for (uint8_t& u : w.codes) u = static_cast<uint8_t>(random_int(0, f.code_max));
  if (f.format == TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM) {
    w.data.resize(w.codes.size() / 2);  // element 2i in the low nibble of byte i
    for (size_t i = 0; i < w.data.size(); ++i) {
      w.data[i] = static_cast<uint8_t>(w.codes[2 * i] | (w.codes[2 * i + 1] << 4));
    }
  } else {
    w.data = w.codes;
  }
  // |u * scale| up to about 2 stddev and a min of about -stddev: weights of either sign.
  const double stddev = 1.0 / std::sqrt(static_cast<double>(sh.k));
  const double half_range = (f.code_max + 1) / 2.0;
  for (int64_t g = 0; g < sh.n * (sh.k / sh.group); ++g) {
    w.scales.push_back(static_cast<float>(random_uniform(1, 0.5, 1.5)[0] * stddev / half_range));
    w.mins.push_back(static_cast<float>(-random_uniform(1, 0.5, 1.5)[0] * stddev));
  }
  return w;
}

// Errors beyond the bound in the header comment, at most five reported.
void expect_within_bound(const AsymWeight& wq, const Shape& sh, tsr_dtype dt,
                         const std::vector<double>& xv, const std::vector<double>& w,
                         const std::vector<double>& got) {
  const std::vector<double> expect = ref::linear(xv, w, {}, sh.m, sh.n, sh.k);
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
        const size_t g = static_cast<size_t>(j * (sh.k / sh.group) + c / sh.group);
        const double parts = wq.codes[static_cast<size_t>(j * sh.k + c)] * double{wq.scales[g]} +
                             std::fabs(double{wq.mins[g]});
        act_bound += parts * absmax / 127;
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
}

void run_case(const AsymFormat& f, tsr_dtype dt, const Shape& sh, CaseSkips& skips) {
  const std::string name = std::string(f.label) + " " + dtype_label(dt) +
                           " M=" + std::to_string(sh.m) + " N=" + std::to_string(sh.n) +
                           " K=" + std::to_string(sh.k) + " group=" + std::to_string(sh.group);
  SCOPED_TRACE(name);
  const AsymWeight wq = random_asym_weight(f, sh);
  tsr_weight_desc desc{};
  desc.struct_size = sizeof desc;
  desc.format = f.format;
  desc.rows = sh.n;
  desc.cols = sh.k;
  desc.group_size = sh.group;
  desc.data = wq.data.data();
  desc.scales = wq.scales.data();
  desc.mins = wq.mins.data();
  desc.compute_dtype = dt;
  tsr_weight_t weight = nullptr;
  const Status st = take(api().weight_prepack(device(), &desc, &weight));
  if (!st.ok && st.code == TSR_ERROR_CODE_UNIMPLEMENTED) {
    skips.declined(name + " (prepack: " + st.message + ")");
    return;
  }
  ASSERT_TRUE(st.ok) << "weight_prepack: " << code_name(st.code) << ": " << st.message;
  Stream s;
  Tensor x(s, dt, {sh.m, sh.k}, "x"), out(s, dt, {sh.m, sh.n}, "out");
  tsr_linear_params p{sizeof(tsr_linear_params), x.view(),   weight,
                      absent_tensor(),           out.view(), {absent_tensor(), absent_tensor()}};
  const std::vector<double> xv = rounded(dt, random_normal(sh.m * sh.k));
  x.upload(xv);
  if (!op_supported_for(TSR_OP_LINEAR, &p)) {
    skips.declined(name);
    TSR_EXPECT_OK(api().weight_destroy(weight));
    return;
  }
  skips.ran();
  TSR_EXPECT_OK(api().ops->linear(s.get(), &p));
  s.sync();
  const std::vector<double> w =
      ref::dequantize(f.format, sh.n, sh.k, sh.group, wq.data, wq.scales, wq.mins);
  expect_within_bound(wq, sh, dt, xv, w, out.values());
  x.check_guards();
  out.check_guards();
  TSR_EXPECT_OK(api().weight_destroy(weight));
}

TEST_F(LinearAsym, MatchesFloat64WithinActivationRoundingBound) {
  TSR_REQUIRE_OP(TSR_OP_LINEAR);
  if (!declared(TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM) &&
      !declared(TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM)) {
    GTEST_SKIP() << "no asymmetric group format declared";
  }
  CaseSkips skips(TSR_OP_LINEAR);
  // Decode-sized and prefill-sized M (up to 33: CPU batches from 32 on take a GEMM path),
  // groups of 32 (GGUF Q4_1, Q5_1, Q4_K, Q5_K) and 64, an odd count of 32-blocks (K = 96), and
  // a K that is not a multiple of 32 (group 16).
  const std::vector<Shape> shapes = {{1, 7, 64, 32},  {3, 33, 128, 32},   {1, 65, 256, 64},
                                     {5, 11, 96, 32}, {17, 129, 256, 32}, {33, 24, 128, 32},
                                     {2, 9, 48, 16},  {9, 12, 48, 16}};
  for (const AsymFormat& f : kAsymFormats) {
    if (!declared(f.format)) continue;
    for (tsr_dtype dt : activation_dtypes()) {
      for (const Shape& sh : shapes) run_case(f, dt, sh, skips);
    }
  }
  TSR_FINISH_CASES(skips);
}

TEST_F(LinearAsym, MissingMinsIsRejected) {
  bool any = false;
  for (const tsr_weight_format f :
       {TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM}) {
    if (!declared(f)) continue;
    any = true;
    SCOPED_TRACE("format " + std::to_string(static_cast<int>(f)));
    std::vector<uint8_t> data(8 * 32, 0x0a);  // enough bytes for either format
    std::vector<float> scales(8, 0.1f);
    tsr_weight_desc desc{};
    desc.struct_size = sizeof desc;
    desc.format = f;
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
  if (!any) GTEST_SKIP() << "no asymmetric group format declared";
}

}  // namespace
}  // namespace tsr::conformance
