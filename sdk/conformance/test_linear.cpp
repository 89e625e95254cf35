// linear: every weight format the device declares, prepacked from canonical data and
// multiplied by activations of every declared dtype, against x · dequant(W)^T in float64.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"
#include "reference_ops.h"

namespace tsr::conformance {
namespace {

TSR_CONFORMANCE_COVERS(linear);

class Linear : public ConformanceTest {};

const char* format_label(tsr_weight_format f) {
  switch (f) {
    case TSR_WEIGHT_FORMAT_F32:
      return "f32";
    case TSR_WEIGHT_FORMAT_F16:
      return "f16";
    case TSR_WEIGHT_FORMAT_BF16:
      return "bf16";
    case TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL:
      return "int8_per_channel";
    case TSR_WEIGHT_FORMAT_INT8_GROUP:
      return "int8_group";
    case TSR_WEIGHT_FORMAT_INT4_GROUP:
      return "int4_group";
    case TSR_WEIGHT_FORMAT_FP8_E4M3:
      return "fp8_e4m3";
    case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM:  // test_linear_asym.cpp
      return "int4_group_asym";
    case TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM:  // test_linear_asym.cpp
      return "int8_group_asym";
  }
  return "?";
}

bool grouped(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_INT8_GROUP || f == TSR_WEIGHT_FORMAT_INT4_GROUP;
}

// The tolerance has two parts. The float part, tolerance(dtype) of normalized error, covers
// f32 accumulation and the rounding of the output. The rounding part covers the input
// rounding plugin.h's linear contract allows (16-bit weights, int8 or e4m3 activations): a
// constant there made CI fail by chance (the error of a 1x7 output relative to its own small
// norm spreads widely), so its bound is computed from the case's own x and W instead.

// Per-element bounds on the input rounding the contract allows: |x' - x| <= x_bound[i],
// |w' - w| <= weight_relative * |w|.
struct AllowedRounding {
  std::vector<double> x_bound;
  double weight_relative = 0;
};

// fp8 activations are not here: their rounding is fixed by the contract, so
// fp8_activation_reference() computes it exactly instead of bounding it.
AllowedRounding allowed_rounding(tsr_weight_format f, tsr_dtype dt, const std::vector<double>& x,
                                 int64_t m, int64_t k) {
  // f32 arithmetic in the plugin's scale and division (x * (1/scale)) moves a rounded value by
  // a few f32 ulps past the half step; 1e-3 of slack covers that with room to spare.
  constexpr double kSlack = 1.001;
  AllowedRounding r;
  r.x_bound.assign(x.size(), 0.0);
  // Round to nearest even: at most half an ulp, u = 2^-8 (bf16) or 2^-11 (f16) of |w|.
  if (dt == TSR_DTYPE_BF16) r.weight_relative = std::ldexp(1.0, -8) * kSlack;
  if (dt == TSR_DTYPE_F16) r.weight_relative = std::ldexp(1.0, -11) * kSlack;
  if (f == TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL || f == TSR_WEIGHT_FORMAT_INT8_GROUP ||
      f == TSR_WEIGHT_FORMAT_INT4_GROUP) {
    // int8 with scale absmax/127 per aligned block of 32: at most half a step, absmax/254. A
    // plugin's smaller blocks inside an aligned one have a smaller absmax, so this bounds them.
    constexpr int64_t kBlock = 32;
    for (int64_t row = 0; row < m; ++row) {
      for (int64_t b0 = 0; b0 < k; b0 += kBlock) {
        const int64_t b1 = std::min(k, b0 + kBlock);
        double absmax = 0;
        for (int64_t j = b0; j < b1; ++j) absmax = std::max(absmax, std::fabs(x[row * k + j]));
        for (int64_t j = b0; j < b1; ++j) r.x_bound[row * k + j] = absmax / 254.0 * kSlack;
      }
    }
  }
  return r;
}

// An upper bound on ||out - ref|| caused by the allowed rounding, which holds with probability
// at least 1 - kDelta over the random inputs. Model: each rounding error has mean zero, is
// independent of the others and bounded as above (rounding of continuous random data behaves
// so). One output y[m][n] then errs by a sum over k of independent terms
//   t_k = (x + e_x)(w + e_w) - x w,   |t_k| <= c_k = b_x |w| + (|x| + b_x) b_w,
// and Hoeffding's inequality gives P(|sum_k t_k| >= t) <= 2 exp(-t^2 / (2 sum_k c_k^2)).
// Asking this of each of the M*N outputs at probability kDelta / (M*N) (union bound):
//   ||out - ref||^2 <= 2 ln(2 M N / kDelta) * sum_{m,n,k} c_k^2.
// That is about sqrt(6 ln(2MN/kDelta)) ~ 12-14 times the typical error (uniform rounding
// errors have variance b^2/3), e.g. ~5% normalized for int8 activations at K = 64; a wrong
// scale, block or nibble order errs by about the size of the output itself and still fails.
constexpr double kDelta = 1e-9;  // a case fails by chance less than once in 10^9 runs

double rounding_error_bound(const AllowedRounding& r, const std::vector<double>& x,
                            const std::vector<double>& w, int64_t m, int64_t n, int64_t k) {
  double sum = 0;
  for (int64_t row = 0; row < m; ++row) {
    for (int64_t col = 0; col < n; ++col) {
      for (int64_t j = 0; j < k; ++j) {
        const double bx = r.x_bound[row * k + j];
        const double wv = std::fabs(w[col * k + j]);
        const double c = bx * wv + (std::fabs(x[row * k + j]) + bx) * r.weight_relative * wv;
        sum += c * c;
      }
    }
  }
  return std::sqrt(2.0 * std::log(2.0 * static_cast<double>(m * n) / kDelta) * sum);
}

// The e4m3fn value nearest to v (ties to the even code), saturated at +-448 as the
// contract's per-tensor scale keeps every value within range anyway. *tie_risk is set when v
// lies within 2^-20 of its magnitude from a midpoint: f32 arithmetic in the plugin's
// x * (1/scale) could round it the other way.
double round_to_e4m3(double v, bool* tie_risk) {
  static const std::vector<double> grid = [] {
    std::vector<double> g;  // non-negative finite e4m3 values, ascending with the code
    for (int code = 0; code < 0x7f; ++code)
      g.push_back(fp8_e4m3_to_double(static_cast<uint8_t>(code)));
    return g;
  }();
  const double a = std::min(std::fabs(v), grid.back());
  const size_t hi =
      static_cast<size_t>(std::lower_bound(grid.begin(), grid.end(), a) - grid.begin());
  size_t pick = hi;
  *tie_risk = false;
  if (hi > 0 && grid[hi] != a) {
    const double below = grid[hi - 1], above = grid[hi], mid = 0.5 * (below + above);
    pick = a < mid ? hi - 1 : a > mid ? hi : (hi % 2 == 0 ? hi : hi - 1);
    *tie_risk = std::fabs(a - mid) <= std::ldexp(a, -20);
  }
  return std::copysign(grid[pick], v);
}

// x as the fp8 contract rounds it (e4m3 of x / s, s = amax/448, times s), and per element
// the step by which a near-tie may come out the other way in f32 (0 elsewhere).
struct Fp8Activations {
  std::vector<double> x;
  std::vector<double> tie_step;
};

Fp8Activations fp8_activation_reference(const std::vector<double>& x) {
  double amax = 0;
  for (double v : x) amax = std::max(amax, std::fabs(v));
  const double scale = amax > 0 ? amax / 448.0 : 1.0;
  Fp8Activations r{std::vector<double>(x.size()), std::vector<double>(x.size(), 0.0)};
  for (size_t i = 0; i < x.size(); ++i) {
    bool tie = false;
    r.x[i] = round_to_e4m3(x[i] / scale, &tie) * scale;
    // An e4m3 step is at most 2^-3 of the value (2^-9 in the subnormals): 2^-2 covers both.
    if (tie) r.tie_step[i] = std::max(std::ldexp(std::fabs(x[i]), -2), std::ldexp(scale, -9));
  }
  return r;
}

// fp8 weights may take per-tensor e4m3 activations (plugin.h), a rounding the contract fixes
// exactly, so the check is deterministic: the output must match the reference either with x
// as given or with x rounded so. Near-ties add their worst effect, sum_k |w| * step, to the
// second; both carry the float part and the bound for weights rounded to 16 bits. (A
// probabilistic bound on e4m3 rounding, 2^-4 of each value, allowed about 40% of the
// output's norm and let a 20% scale error pass.)
::testing::AssertionResult fp8_linear_close(
    tsr_dtype dt, tsr_dtype out_dt, const std::vector<double>& out, const std::vector<double>& x,
    const std::vector<double>& w, const std::vector<double>& bias, const std::vector<double>& ref,
    int64_t m, int64_t n, int64_t k) {
  const double float_part = tolerance(out_dt == TSR_DTYPE_F32 ? dt : out_dt);
  const double ref_norm = finite_norm(ref);
  const auto relative = [&](double bound) { return ref_norm > 0 ? bound / ref_norm : bound; };
  const AllowedRounding weights_only = allowed_rounding(TSR_WEIGHT_FORMAT_FP8_E4M3, dt, x, m, k);
  const ::testing::AssertionResult as_given =
      close(out, ref, float_part + relative(rounding_error_bound(weights_only, x, w, m, n, k)));
  if (as_given) return as_given;
  const Fp8Activations q = fp8_activation_reference(x);
  const std::vector<double> ref_q = ref::linear(q.x, w, bias, m, n, k);
  double ties = 0;
  for (int64_t row = 0; row < m; ++row) {
    for (int64_t col = 0; col < n; ++col) {
      double e = 0;
      for (int64_t j = 0; j < k; ++j) e += std::fabs(w[col * k + j]) * q.tie_step[row * k + j];
      ties += e * e;
    }
  }
  const AllowedRounding weights_q = allowed_rounding(TSR_WEIGHT_FORMAT_FP8_E4M3, dt, q.x, m, k);
  const ::testing::AssertionResult rounded = close(
      out, ref_q,
      float_part + relative(rounding_error_bound(weights_q, q.x, w, m, n, k) + std::sqrt(ties)));
  if (rounded) return rounded;
  return ::testing::AssertionFailure()
         << "with x as given: " << as_given.message()
         << "; with x rounded to per-tensor e4m3: " << rounded.message();
}

// The normalized-error tolerance of one case: the float part plus the rounding bound
// relative to ||ref|| (normalized_error is absolute when ||ref|| is 0).
double linear_tolerance(tsr_weight_format f, tsr_dtype dt, tsr_dtype out_dt,
                        const std::vector<double>& x, const std::vector<double>& w,
                        const std::vector<double>& ref, int64_t m, int64_t n, int64_t k) {
  const double float_part = tolerance(out_dt == TSR_DTYPE_F32 ? dt : out_dt);
  const double bound = rounding_error_bound(allowed_rounding(f, dt, x, m, k), x, w, m, n, k);
  const double ref_norm = finite_norm(ref);
  return float_part + (ref_norm > 0 ? bound / ref_norm : bound);
}

struct CanonicalWeight {
  std::vector<uint8_t> data;
  std::vector<float> scales;
};

CanonicalWeight make_weight(tsr_weight_format f, int64_t n, int64_t k, int64_t group) {
  CanonicalWeight w;
  const double stddev = 1.0 / std::sqrt(static_cast<double>(k));
  switch (f) {
    case TSR_WEIGHT_FORMAT_F32:
      w.data = encode(TSR_DTYPE_F32, random_normal(n * k, stddev));
      break;
    case TSR_WEIGHT_FORMAT_F16:
      w.data = encode(TSR_DTYPE_F16, random_normal(n * k, stddev));
      break;
    case TSR_WEIGHT_FORMAT_BF16:
      w.data = encode(TSR_DTYPE_BF16, random_normal(n * k, stddev));
      break;
    case TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL:
    case TSR_WEIGHT_FORMAT_INT8_GROUP:
      w.data.resize(n * k);
      for (uint8_t& b : w.data)
        b = static_cast<uint8_t>(static_cast<int8_t>(random_int(-127, 127)));
      break;
    case TSR_WEIGHT_FORMAT_INT4_GROUP:
    case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM:
      w.data.resize(n * k / 2);
      for (uint8_t& b : w.data) b = static_cast<uint8_t>(random_int(0, 255));
      break;
    case TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM:  // not in this file's loop: test_linear_asym.cpp
      w.data.resize(n * k);
      for (uint8_t& b : w.data) b = static_cast<uint8_t>(random_int(0, 255));
      break;
    case TSR_WEIGHT_FORMAT_FP8_E4M3:
      w.data.resize(n * k);
      for (uint8_t& b : w.data) {
        do {
          b = static_cast<uint8_t>(random_int(0, 255));
        } while ((b & 0x7f) == 0x7f || ((b >> 3) & 0xf) > 9);  // no NaN, |v| <= 7.5
      }
      break;
  }
  if (f == TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL || f == TSR_WEIGHT_FORMAT_FP8_E4M3 || grouped(f)) {
    const int64_t count = grouped(f) ? n * (k / group) : n;
    const double base =
        f == TSR_WEIGHT_FORMAT_INT4_GROUP ? 4.0 : (f == TSR_WEIGHT_FORMAT_FP8_E4M3 ? 2.0 : 64.0);
    for (int64_t i = 0; i < count; ++i) {
      w.scales.push_back(static_cast<float>(random_uniform(1, 0.5, 1.5)[0] * stddev / base));
    }
  }
  return w;
}

struct Shape {
  int64_t m, n, k;
};

TEST_F(Linear, EveryDeclaredWeightFormat) {
  TSR_REQUIRE_OP(TSR_OP_LINEAR);
  ASSERT_NE(api().weight_prepack, nullptr);
  CaseSkips skips(TSR_OP_LINEAR);
  const int64_t group = 32;
  const std::vector<Shape> shapes = {
      {1, 7, 64}, {3, 33, 128}, {17, 129, 256}, {64, 48, 4096}, {1, 1000, 96}};
  const std::vector<Shape> odd_k = {{2, 7, 33}, {5, 129, 7}};
  for (int fi = 0; fi <= TSR_WEIGHT_FORMAT_FP8_E4M3; ++fi) {
    const auto format = static_cast<tsr_weight_format>(fi);
    if (!(plugin().props.weight_formats & TSR_WEIGHT_FORMAT_BIT(format))) continue;
    std::vector<Shape> cases = shapes;
    if (!grouped(format)) cases.insert(cases.end(), odd_k.begin(), odd_k.end());
    for (tsr_dtype dt : activation_dtypes()) {
      for (const Shape& sh : cases) {
        for (int variant = 0; variant < 2; ++variant) {
          // variant 0: out in x's dtype, no bias; variant 1: bias, and F32 out from 16-bit x.
          const bool with_bias = variant == 1;
          const tsr_dtype out_dt = variant == 1 ? TSR_DTYPE_F32 : dt;
          const std::string name = std::string(format_label(format)) + " x " + dtype_label(dt) +
                                   " -> " + dtype_label(out_dt) + " M=" + std::to_string(sh.m) +
                                   " N=" + std::to_string(sh.n) + " K=" + std::to_string(sh.k) +
                                   (with_bias ? " +bias" : "");
          SCOPED_TRACE(name);
          const CanonicalWeight cw = make_weight(format, sh.n, sh.k, group);
          tsr_weight_desc desc{};
          desc.struct_size = sizeof desc;
          desc.format = format;
          desc.rows = sh.n;
          desc.cols = sh.k;
          desc.group_size = grouped(format) ? group : 0;
          desc.data = cw.data.data();
          desc.scales = cw.scales.empty() ? nullptr : cw.scales.data();
          desc.compute_dtype = dt;
          tsr_weight_t weight = nullptr;
          const Status st = take(api().weight_prepack(device(), &desc, &weight));
          if (!st.ok && (st.code == TSR_ERROR_CODE_UNIMPLEMENTED ||
                         st.code == TSR_ERROR_CODE_INVALID_ARGUMENT)) {
            skips.declined(name + " (prepack: " + st.message + ")");
            continue;
          }
          ASSERT_TRUE(st.ok) << "weight_prepack: " << code_name(st.code) << ": " << st.message;
          Stream s;
          Tensor x(s, dt, {sh.m, sh.k}, "x"), bias(s, dt, {sh.n}, "bias"),
              out(s, out_dt, {sh.m, sh.n}, "out");
          tsr_linear_params p{sizeof(tsr_linear_params),
                              x.view(),
                              weight,
                              with_bias ? bias.view() : absent_tensor(),
                              out.view(),
                              {absent_tensor(), absent_tensor()}};
          const std::vector<double> xv = rounded(dt, random_normal(sh.m * sh.k));
          const std::vector<double> bv = rounded(dt, random_normal(sh.n, 0.5));
          x.upload(xv);
          bias.upload(bv);
          if (!op_supported_for(TSR_OP_LINEAR, &p)) {
            skips.declined(name);
            TSR_EXPECT_OK(api().weight_destroy(weight));
            continue;
          }
          skips.ran();
          TSR_EXPECT_OK(api().ops->linear(s.get(), &p));
          s.sync();
          const std::vector<double> w =
              ref::dequantize(format, sh.n, sh.k, group, cw.data, cw.scales);
          const std::vector<double> expect =
              ref::linear(xv, w, with_bias ? bv : std::vector<double>{}, sh.m, sh.n, sh.k);
          if (verbose()) std::printf("  linear %s:\n", name.c_str());
          if (format == TSR_WEIGHT_FORMAT_FP8_E4M3) {
            EXPECT_TRUE(fp8_linear_close(dt, out_dt, out.values(), xv, w,
                                         with_bias ? bv : std::vector<double>{}, expect, sh.m, sh.n,
                                         sh.k));
          } else {
            EXPECT_TRUE(
                close(out.values(), expect,
                      linear_tolerance(format, dt, out_dt, xv, w, expect, sh.m, sh.n, sh.k)));
          }
          for (const Tensor* t : {&x, &bias, &out}) t->check_guards();
          TSR_EXPECT_OK(api().weight_destroy(weight));
        }
      }
    }
  }
  TSR_FINISH_CASES(skips);
}

TEST_F(Linear, MismatchedKIsRejected) {
  TSR_REQUIRE_OP(TSR_OP_LINEAR);
  if (!(plugin().props.weight_formats & TSR_WEIGHT_FORMAT_BIT(TSR_WEIGHT_FORMAT_F32))) {
    GTEST_SKIP() << "f32 weights not declared";
  }
  const tsr_dtype dt = activation_dtypes().at(0);
  const CanonicalWeight cw = make_weight(TSR_WEIGHT_FORMAT_F32, 8, 64, 0);
  tsr_weight_desc desc{sizeof(tsr_weight_desc),
                       TSR_WEIGHT_FORMAT_F32,
                       8,
                       64,
                       0,
                       cw.data.data(),
                       nullptr,
                       dt,
                       nullptr};
  tsr_weight_t weight = nullptr;
  TSR_ASSERT_OK(api().weight_prepack(device(), &desc, &weight));
  Stream s;
  Tensor x(s, dt, {2, 32}, "x"), out(s, dt, {2, 8}, "out");
  tsr_linear_params p{sizeof(tsr_linear_params), x.view(),   weight,
                      absent_tensor(),           out.view(), {absent_tensor(), absent_tensor()}};
  EXPECT_TRUE(failed_with(take(api().ops->linear(s.get(), &p)), {TSR_ERROR_CODE_INVALID_ARGUMENT}))
      << "x has K=32, the weight K=64";
  s.sync();
  out.check_guards();
  TSR_EXPECT_OK(api().weight_destroy(weight));
}

// out_parts (ABI 1.3). A device claiming TSR_DEVICE_CAP_LINEAR_OUT_PARTS writes into out and
// the parts exactly the columns the unsplit call writes (with a bias, from 16-bit x to f32, in
// two or three parts, of widths that are not multiples of anything); any other device refuses
// a present part. Both read no part from a 1.2-sized struct, and refuse parts whose widths do
// not add up to the weight's rows.
TEST_F(Linear, OutPartsHoldTheUnsplitColumns) {
  TSR_REQUIRE_OP(TSR_OP_LINEAR);
  const bool claimed = (plugin().props.caps & TSR_DEVICE_CAP_LINEAR_OUT_PARTS) != 0;
  constexpr int64_t kK = 64;
  const std::vector<std::vector<int64_t>> splits = {{24, 16, 8}, {40, 8}, {5, 3, 40}};
  int ran = 0;
  for (tsr_weight_format format :
       {TSR_WEIGHT_FORMAT_F32, TSR_WEIGHT_FORMAT_INT8_GROUP, TSR_WEIGHT_FORMAT_INT4_GROUP}) {
    if (!(plugin().props.weight_formats & TSR_WEIGHT_FORMAT_BIT(format))) continue;
    for (tsr_dtype dt : activation_dtypes()) {
      for (const auto& widths : splits) {
        int64_t n = 0;
        for (int64_t w : widths) n += w;
        const CanonicalWeight cw = make_weight(format, n, kK, grouped(format) ? 32 : 0);
        tsr_weight_desc desc{};
        desc.struct_size = sizeof desc;
        desc.format = format;
        desc.rows = n;
        desc.cols = kK;
        desc.group_size = grouped(format) ? 32 : 0;
        desc.data = cw.data.data();
        desc.scales = cw.scales.empty() ? nullptr : cw.scales.data();
        desc.compute_dtype = dt;
        tsr_weight_t weight = nullptr;
        if (!take(api().weight_prepack(device(), &desc, &weight)).ok) continue;
        for (int64_t m : {1, 5}) {
          const tsr_dtype out_dt = widths.size() == 2 ? TSR_DTYPE_F32 : dt;
          SCOPED_TRACE(std::string(format_label(format)) + " x " + dtype_label(dt) +
                       " M=" + std::to_string(m) + " parts of " + std::to_string(widths[0]) + "/" +
                       std::to_string(widths[1]));
          Stream s;
          Tensor x(s, dt, {m, kK}, "x"), bias(s, dt, {n}, "bias"),
              whole(s, out_dt, {m, n}, "whole");
          x.upload(rounded(dt, random_normal(m * kK)));
          bias.upload(rounded(dt, random_normal(n, 0.5)));
          std::vector<std::unique_ptr<Tensor>> parts;
          for (size_t i = 0; i < widths.size(); ++i) {
            parts.push_back(std::make_unique<Tensor>(s, out_dt, std::vector<int64_t>{m, widths[i]},
                                                     "part " + std::to_string(i)));
          }
          tsr_linear_params p{
              sizeof(tsr_linear_params),         x.view(), weight, bias.view(), whole.view(),
              {absent_tensor(), absent_tensor()}};
          TSR_EXPECT_OK(api().ops->linear(s.get(), &p));
          // A 1.2 caller's struct ends before out_parts: whatever lies there is not read.
          tsr_linear_params old = p;
          old.struct_size = offsetof(tsr_linear_params, out_parts);
          old.out_parts[0] = parts[1]->view();
          TSR_EXPECT_OK(api().ops->linear(s.get(), &old));
          tsr_linear_params split = p;
          split.out = parts[0]->view();
          for (size_t i = 1; i < widths.size(); ++i) split.out_parts[i - 1] = parts[i]->view();
          const Status st = take(api().ops->linear(s.get(), &split));
          tsr_linear_params short_parts = split;
          short_parts.out_parts[0] = parts[0]->view();  // widths no longer add up (and overlap)
          EXPECT_TRUE(failed_with(take(api().ops->linear(s.get(), &short_parts)),
                                  {TSR_ERROR_CODE_INVALID_ARGUMENT}));
          s.sync();
          if (!claimed) {
            EXPECT_TRUE(failed_with(st, {TSR_ERROR_CODE_INVALID_ARGUMENT}))
                << "a device without TSR_DEVICE_CAP_LINEAR_OUT_PARTS must refuse out_parts";
          } else {
            EXPECT_TRUE(st.ok) << code_name(st.code) << ": " << st.message;
            const std::vector<double> expect = whole.values();
            int64_t column = 0;
            for (size_t i = 0; i < widths.size(); ++i) {
              const std::vector<double> got = parts[i]->values();
              for (int64_t r = 0; r < m; ++r) {
                for (int64_t c = 0; c < widths[i]; ++c) {
                  ASSERT_EQ(got[r * widths[i] + c], expect[r * n + column + c])
                      << "part " << i << " row " << r << " column " << c;
                }
              }
              column += widths[i];
            }
          }
          for (const Tensor* t : {&x, &bias, &whole}) t->check_guards();
          for (const auto& t : parts) t->check_guards();
          ++ran;
        }
        TSR_EXPECT_OK(api().weight_destroy(weight));
      }
    }
  }
  if (ran == 0) GTEST_SKIP() << "no f32, int8_group or int4_group weight could be prepacked";
}

}  // namespace
}  // namespace tsr::conformance
