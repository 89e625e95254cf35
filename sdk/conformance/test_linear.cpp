// linear: every weight format the device declares, prepacked from canonical data and
// multiplied by activations of every declared dtype, against x · dequant(W)^T in float64.
#include <cmath>

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
  }
  return "?";
}

bool grouped(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_INT8_GROUP || f == TSR_WEIGHT_FORMAT_INT4_GROUP;
}

// Quantized formats are compared with the dequantized float64 weight; the looser bound
// admits kernels that quantize activations on the fly (int8 dot products), which is
// accepted practice for these formats.
double linear_tolerance(tsr_weight_format f, tsr_dtype dt) {
  switch (f) {
    case TSR_WEIGHT_FORMAT_F32:
    case TSR_WEIGHT_FORMAT_F16:
    case TSR_WEIGHT_FORMAT_BF16:
      return tolerance(dt);
    case TSR_WEIGHT_FORMAT_FP8_E4M3:
      return std::max(tolerance(dt), 5e-2);
    default:
      return std::max(tolerance(dt), 2e-2);
  }
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
          tsr_linear_params p{sizeof(tsr_linear_params), x.view(), weight,
                              with_bias ? bias.view() : absent_tensor(), out.view()};
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
          EXPECT_TRUE(close(out.values(), expect,
                            linear_tolerance(format, out_dt == TSR_DTYPE_F32 ? dt : out_dt)));
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
  tsr_linear_params p{sizeof(tsr_linear_params), x.view(), weight, absent_tensor(), out.view()};
  EXPECT_TRUE(failed_with(take(api().ops->linear(s.get(), &p)), {TSR_ERROR_CODE_INVALID_ARGUMENT}))
      << "x has K=32, the weight K=64";
  s.sync();
  out.check_guards();
  TSR_EXPECT_OK(api().weight_destroy(weight));
}

}  // namespace
}  // namespace tsr::conformance
