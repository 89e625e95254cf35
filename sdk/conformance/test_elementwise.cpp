// Row-wise and elementwise ops: add, silu_mul, gelu_tanh_mul, rms_norm (plain and fused with the
// residual add), embedding and gather_rows, over every activation dtype and awkward shapes, with
// guard bytes and NaN/Inf propagation.
#include <cmath>
#include <limits>

#include "harness.h"
#include "reference_ops.h"

namespace tsr::conformance {
namespace {

TSR_CONFORMANCE_COVERS(add);
TSR_CONFORMANCE_COVERS(silu_mul);
TSR_CONFORMANCE_COVERS(gelu_tanh_mul);
TSR_CONFORMANCE_COVERS(rms_norm);
TSR_CONFORMANCE_COVERS(embedding);
TSR_CONFORMANCE_COVERS(gather_rows);

class Elementwise : public ConformanceTest {};

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

const std::vector<std::pair<int64_t, int64_t>> kShapes = {{1, 1},  {1, 7},    {3, 33},  {5, 129},
                                                          {7, 64}, {2, 4096}, {33, 128}};

std::string case_name(tsr_dtype dt, int64_t rows, int64_t cols) {
  return std::string(dtype_label(dt)) + " [" + std::to_string(rows) + ", " + std::to_string(cols) +
         "]";
}

TEST_F(Elementwise, Add) {
  TSR_REQUIRE_OP(TSR_OP_ADD);
  CaseSkips skips(TSR_OP_ADD);
  for (tsr_dtype dt : activation_dtypes()) {
    for (auto [rows, cols] : kShapes) {
      for (bool in_place : {false, true}) {
        SCOPED_TRACE(case_name(dt, rows, cols) + (in_place ? " out = a" : ""));
        Stream s;
        Tensor a(s, dt, {rows, cols}, "a"), b(s, dt, {rows, cols}, "b"),
            out(s, dt, {rows, cols}, "out");
        tsr_add_params p{sizeof(tsr_add_params), a.view(), b.view(),
                         in_place ? a.view() : out.view()};
        std::vector<double> av = rounded(dt, random_normal(rows * cols));
        std::vector<double> bv = rounded(dt, random_normal(rows * cols));
        if (av.size() >= 8) {  // NaN and Inf propagate through add
          av[1] = kNaN;
          bv[3] = kInf;
          av[5] = -kInf;
          bv[av.size() - 1] = kNaN;
        }
        a.upload(av);
        b.upload(bv);
        if (!op_supported_for(TSR_OP_ADD, &p)) {
          skips.declined(case_name(dt, rows, cols));
          continue;
        }
        skips.ran();
        TSR_ASSERT_OK(api().ops->add(s.get(), &p));
        s.sync();
        const Tensor& result = in_place ? a : out;
        EXPECT_TRUE(close(result.values(), ref::add(av, bv), tolerance(dt)));
        a.check_guards();
        b.check_guards();
        out.check_guards();
      }
    }
  }
  TSR_FINISH_CASES(skips);
}

TEST_F(Elementwise, SiluMul) {
  TSR_REQUIRE_OP(TSR_OP_SILU_MUL);
  CaseSkips skips(TSR_OP_SILU_MUL);
  for (tsr_dtype dt : activation_dtypes()) {
    for (auto [rows, inner] : kShapes) {
      SCOPED_TRACE(case_name(dt, rows, inner));
      Stream s;
      Tensor x(s, dt, {rows, 2 * inner}, "x"), out(s, dt, {rows, inner}, "out");
      tsr_silu_mul_params p{sizeof(tsr_silu_mul_params), x.view(), out.view()};
      std::vector<double> xv = rounded(dt, random_normal(rows * 2 * inner, 2.0));
      if (inner >= 4) {
        xv[2] = kNaN;          // gate
        xv[inner + 3] = kNaN;  // up
      }
      x.upload(xv);
      if (!op_supported_for(TSR_OP_SILU_MUL, &p)) {
        skips.declined(case_name(dt, rows, inner));
        continue;
      }
      skips.ran();
      TSR_ASSERT_OK(api().ops->silu_mul(s.get(), &p));
      s.sync();
      EXPECT_TRUE(close(out.values(), ref::silu_mul(xv, rows, inner), tolerance(dt)));
      x.check_guards();
      out.check_guards();
    }
  }
  TSR_FINISH_CASES(skips);
}

// ABI 1.2 (GeGLU). Gates past |g| = 10 reach the saturated tails (gelu(g) -> g and -> -0),
// where a kernel computing tanh through exp must not overflow into NaN.
TEST_F(Elementwise, GeluTanhMul) {
  TSR_REQUIRE_OP(TSR_OP_GELU_TANH_MUL);
  CaseSkips skips(TSR_OP_GELU_TANH_MUL);
  for (tsr_dtype dt : activation_dtypes()) {
    for (auto [rows, inner] : kShapes) {
      SCOPED_TRACE(case_name(dt, rows, inner));
      Stream s;
      Tensor x(s, dt, {rows, 2 * inner}, "x"), out(s, dt, {rows, inner}, "out");
      tsr_gelu_tanh_mul_params p{sizeof(tsr_gelu_tanh_mul_params), x.view(), out.view()};
      std::vector<double> xv = rounded(dt, random_normal(rows * 2 * inner, 3.0));
      if (inner >= 8) {
        xv[1] = 12.0;          // gate, saturated high
        xv[4] = -30.0;         // gate, saturated low (g^3 is large)
        xv[2] = kNaN;          // gate
        xv[inner + 3] = kNaN;  // up
      }
      x.upload(xv);
      if (!op_supported_for(TSR_OP_GELU_TANH_MUL, &p)) {
        skips.declined(case_name(dt, rows, inner));
        continue;
      }
      skips.ran();
      TSR_ASSERT_OK(api().ops->gelu_tanh_mul(s.get(), &p));
      s.sync();
      // Strongly negative gates give values below the output dtype's smallest normal
      // number (gelu(-9) ~ 1e-28): there the bound is absolute, that smallest normal, since a
      // kernel may flush subnormals or let exp overflow to a signed zero. Such elements count
      // as agreeing when both are that small (a [1, 1] case would otherwise be all
      // underflow, its normalized error 1 saying nothing about the kernel).
      std::vector<double> got = out.values();
      std::vector<double> want = rounded(dt, ref::gelu_tanh_mul(xv, rows, inner));
      const double smallest_normal = dt == TSR_DTYPE_F16 ? 0x1p-14 : 0x1p-126;
      for (size_t i = 0; i < want.size(); ++i) {
        if (std::fabs(want[i]) < smallest_normal && std::fabs(got[i]) < smallest_normal) {
          got[i] = want[i] = 0.0;
        }
      }
      EXPECT_TRUE(close(got, want, tolerance(dt)));
      x.check_guards();
      out.check_guards();
    }
  }
  TSR_FINISH_CASES(skips);
}

TEST_F(Elementwise, RmsNorm) {
  TSR_REQUIRE_OP(TSR_OP_RMS_NORM);
  CaseSkips skips(TSR_OP_RMS_NORM);
  for (tsr_dtype dt : activation_dtypes()) {
    for (auto [rows, hidden] : kShapes) {
      for (bool fused : {false, true}) {
        const std::string name = case_name(dt, rows, hidden) + (fused ? " +residual" : "");
        SCOPED_TRACE(name);
        Stream s;
        Tensor x(s, dt, {rows, hidden}, "x"), w(s, dt, {hidden}, "weight"),
            res(s, dt, {rows, hidden}, "residual"), out(s, dt, {rows, hidden}, "out");
        const float eps = 1e-5f;
        tsr_rms_norm_params p{sizeof(tsr_rms_norm_params),          x.view(),   w.view(),
                              fused ? res.view() : absent_tensor(), out.view(), eps};
        std::vector<double> xv = rounded(dt, random_normal(rows * hidden, 3.0));
        std::vector<double> wv = rounded(dt, random_uniform(hidden, 0.5, 1.5));
        std::vector<double> rv = rounded(dt, random_normal(rows * hidden));
        if (rows >= 3 && hidden >= 2) xv[hidden + 1] = kNaN;  // row 1 becomes NaN
        x.upload(xv);
        w.upload(wv);
        res.upload(rv);
        if (!op_supported_for(TSR_OP_RMS_NORM, &p)) {
          skips.declined(name);
          continue;
        }
        skips.ran();
        TSR_ASSERT_OK(api().ops->rms_norm(s.get(), &p));
        s.sync();
        std::vector<double> normed_input = xv;
        if (fused) {
          const std::vector<double> sum = ref::add(rv, xv);
          EXPECT_TRUE(close(res.values(), sum, tolerance(dt))) << "residual after the fused add";
          normed_input = rounded(dt, sum);
        }
        EXPECT_TRUE(
            close(out.values(), ref::rms_norm(normed_input, wv, hidden, eps), tolerance(dt)));
        for (const Tensor* t : {&x, &w, &res, &out}) t->check_guards();
        if (!fused) {
          EXPECT_EQ(res.values(), rv) << "residual changed although absent";
        }
      }
    }
  }
  TSR_FINISH_CASES(skips);
}

TEST_F(Elementwise, Embedding) {
  TSR_REQUIRE_OP(TSR_OP_EMBEDDING);
  CaseSkips skips(TSR_OP_EMBEDDING);
  for (tsr_dtype dt : activation_dtypes()) {
    for (auto [vocab, hidden, tokens] : {std::tuple<int64_t, int64_t, int64_t>{7, 1, 1},
                                         {129, 33, 5},
                                         {1000, 128, 64},
                                         {33, 4096, 3}}) {
      const std::string name = case_name(dt, vocab, hidden) + " T=" + std::to_string(tokens);
      SCOPED_TRACE(name);
      Stream s;
      Tensor ids(s, TSR_DTYPE_I32, {tokens}, "ids"), table(s, dt, {vocab, hidden}, "table"),
          out(s, dt, {tokens, hidden}, "out");
      tsr_embedding_params p{sizeof(tsr_embedding_params), ids.view(), table.view(), out.view()};
      std::vector<int32_t> id_values(tokens);
      std::vector<double> id_doubles(tokens);
      for (int64_t t = 0; t < tokens; ++t) {
        id_values[t] = static_cast<int32_t>(t == 0 ? vocab - 1 : random_int(0, vocab - 1));
        id_doubles[t] = id_values[t];
      }
      const std::vector<double> tv = rounded(dt, random_normal(vocab * hidden));
      ids.upload(id_doubles);
      table.upload(tv);
      if (!op_supported_for(TSR_OP_EMBEDDING, &p)) {
        skips.declined(name);
        continue;
      }
      skips.ran();
      TSR_ASSERT_OK(api().ops->embedding(s.get(), &p));
      s.sync();
      EXPECT_EQ(out.values(), ref::embedding(id_values, tv, hidden)) << "rows must be exact copies";
      for (const Tensor* t : {&ids, &table, &out}) t->check_guards();

      // An id out of range is an error where the plugin can see it, never a wild read.
      id_doubles[0] = static_cast<double>(vocab);
      ids.upload(id_doubles);
      const Status st = take(api().ops->embedding(s.get(), &p));
      s.sync();
      if (!st.ok) {
        EXPECT_TRUE(failed_with(st, {TSR_ERROR_CODE_INVALID_ARGUMENT}));
      }
      out.check_guards();
    }
  }
  TSR_FINISH_CASES(skips);
}

TEST_F(Elementwise, GatherRows) {
  TSR_REQUIRE_OP(TSR_OP_GATHER_ROWS);
  CaseSkips skips(TSR_OP_GATHER_ROWS);
  std::vector<tsr_dtype> dtypes = activation_dtypes();
  dtypes.push_back(TSR_DTYPE_I32);
  for (tsr_dtype dt : dtypes) {
    for (auto [n, c, m] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1},
                           {7, 33, 3},
                           {129, 1000, 5},
                           {16, 4096, 16}}) {
      const std::string name = case_name(dt, n, c) + " M=" + std::to_string(m);
      SCOPED_TRACE(name);
      Stream s;
      Tensor x(s, dt, {n, c}, "x"), idx(s, TSR_DTYPE_I32, {m}, "indices"),
          out(s, dt, {m, c}, "out");
      tsr_gather_rows_params p{sizeof(tsr_gather_rows_params), x.view(), idx.view(), out.view()};
      const std::vector<uint8_t> xb =
          encode(dt, dt == TSR_DTYPE_I32 ? random_uniform(n * c, -1e6, 1e6) : random_normal(n * c));
      std::vector<double> iv(m);
      for (int64_t i = 0; i < m; ++i)
        iv[i] = static_cast<double>(i == 0 ? n - 1 : random_int(0, n - 1));
      x.upload_bytes(xb);
      idx.upload(iv);
      if (!op_supported_for(TSR_OP_GATHER_ROWS, &p)) {
        skips.declined(name);
        continue;
      }
      skips.ran();
      TSR_ASSERT_OK(api().ops->gather_rows(s.get(), &p));
      s.sync();
      const size_t row_bytes = c * dtype_bytes(dt);
      std::vector<uint8_t> expect;
      for (double i : iv) {
        expect.insert(expect.end(), xb.begin() + static_cast<int64_t>(i) * row_bytes,
                      xb.begin() + (static_cast<int64_t>(i) + 1) * row_bytes);
      }
      EXPECT_EQ(out.raw(), expect) << "rows must be byte-exact copies";
      for (const Tensor* t : {&x, &idx, &out}) t->check_guards();
    }
  }
  TSR_FINISH_CASES(skips);
}

TEST_F(Elementwise, MismatchedShapesAreRejected) {
  TSR_REQUIRE_OP(TSR_OP_ADD);
  Stream s;
  const tsr_dtype dt = activation_dtypes().at(0);
  Tensor a(s, dt, {4, 8}, "a"), b(s, dt, {4, 7}, "b"), out(s, dt, {4, 8}, "out");
  tsr_add_params p{sizeof(tsr_add_params), a.view(), b.view(), out.view()};
  EXPECT_TRUE(failed_with(take(api().ops->add(s.get(), &p)), {TSR_ERROR_CODE_INVALID_ARGUMENT}))
      << "add with b of another shape";
  p.b = a.view();
  p.struct_size = 4;
  EXPECT_TRUE(failed_with(take(api().ops->add(s.get(), &p)), {TSR_ERROR_CODE_INVALID_ARGUMENT}))
      << "params.struct_size too small";
  s.sync();
  out.check_guards();
}

}  // namespace
}  // namespace tsr::conformance
