// Runtime ISA dispatch: every ISA path this machine offers gives the generic path's
// results (to float rounding), and the overrides (option cpu.isa over TESSERA_CPU_ISA)
// select or fall back safely.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>

#include "plugin_harness.h"
#include "reference.h"
#include "tessera/plugin.hpp"

namespace tsr::test {
namespace {

using Outputs = std::map<std::string, std::vector<float>>;

std::vector<float> read(Plugin& p, const tsr_tensor& t) {
  const size_t n = numel(std::vector<int64_t>(t.shape, t.shape + t.ndim));
  if (t.dtype == TSR_DTYPE_F32) return p.download<float>(t, n);
  if (t.dtype == TSR_DTYPE_BF16) return from_bf16(p.download<uint16_t>(t, n));
  return from_f16(p.download<uint16_t>(t, n));
}

tsr_tensor upload_as(Plugin& p, const std::vector<float>& v, tsr_dtype dtype,
                     std::vector<int64_t> shape) {
  if (dtype == TSR_DTYPE_F32) return p.upload(v, dtype, std::move(shape));
  if (dtype == TSR_DTYPE_BF16) return p.upload(to_bf16(v), dtype, std::move(shape));
  return p.upload(to_f16(v), dtype, std::move(shape));
}

void expect_ok(tsr_error* e) {
  const Status s = take(e);
  ASSERT_TRUE(s.ok()) << s.message;
}

// Runs the ISA-dispatched ops on fixed inputs; odd sizes exercise the vector tails.
Outputs run_kernels(Plugin& p) {
  Outputs out;
  const int64_t rows = 5;
  const int64_t h = 67;
  for (tsr_dtype dt : {TSR_DTYPE_F32, TSR_DTYPE_BF16, TSR_DTYPE_F16}) {
    const std::string tag = tsr::sdk::dtype_name(dt);
    tsr_rms_norm_params rn{};
    rn.struct_size = sizeof rn;
    rn.x = upload_as(p, random_floats(rows * h, 1), dt, {rows, h});
    rn.weight = upload_as(p, random_floats(h, 2), dt, {h});
    rn.residual = upload_as(p, random_floats(rows * h, 3), dt, {rows, h});
    rn.out = p.empty(dt, {rows, h});
    rn.eps = 1e-6f;
    expect_ok(p.ops().rms_norm(p.stream(), &rn));
    out["rms_norm." + tag] = read(p, rn.out);
    out["rms_norm.residual." + tag] = read(p, rn.residual);

    tsr_silu_mul_params sm{};
    sm.struct_size = sizeof sm;
    sm.x = upload_as(p, random_floats(rows * 2 * h, 4, -8.0f, 8.0f), dt, {rows, 2 * h});
    sm.out = p.empty(dt, {rows, h});
    expect_ok(p.ops().silu_mul(p.stream(), &sm));
    out["silu_mul." + tag] = read(p, sm.out);

    // Gates past |g| = 10 saturate (the vector sets' exp clamps there).
    tsr_gelu_tanh_mul_params gm{};
    gm.struct_size = sizeof gm;
    gm.x = upload_as(p, random_floats(rows * 2 * h, 11, -12.0f, 12.0f), dt, {rows, 2 * h});
    gm.out = p.empty(dt, {rows, h});
    expect_ok(p.ops().gelu_tanh_mul(p.stream(), &gm));
    out["gelu_tanh_mul." + tag] = read(p, gm.out);

    tsr_add_params ad{};
    ad.struct_size = sizeof ad;
    ad.a = upload_as(p, random_floats(rows * h, 5), dt, {rows, h});
    ad.b = upload_as(p, random_floats(rows * h, 6), dt, {rows, h});
    ad.out = ad.a;  // in place
    expect_ok(p.ops().add(p.stream(), &ad));
    out["add." + tag] = read(p, ad.out);
  }
  // Quantized GEMV (M < 8) and GEMM (M >= 8). Groups of 35: odd group starts and vector
  // tails on the float paths; groups of 32: the integer (int8 activation) GEMV.
  const int64_t n = 12;
  for (const auto& [k, group] : {std::pair<int64_t, int64_t>{140, 35}, {128, 32}}) {
    std::vector<uint8_t> q(static_cast<size_t>(n * k));
    for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<uint8_t>((i * 37 + 11) % 251);
    const auto scales = random_floats(static_cast<size_t>(n * k / group), 7, 0.01f, 0.1f);
    for (tsr_weight_format f : {TSR_WEIGHT_FORMAT_INT8_GROUP, TSR_WEIGHT_FORMAT_INT4_GROUP}) {
      tsr_weight_desc d{};
      d.struct_size = sizeof d;
      d.format = f;
      d.rows = n;
      d.cols = k;
      d.group_size = group;
      d.data = q.data();
      d.scales = scales.data();
      d.compute_dtype = TSR_DTYPE_F32;
      tsr_weight_t w = nullptr;
      expect_ok(p.api().weight_prepack(p.device(), &d, &w));
      for (int64_t m : {2, 9}) {
        tsr_linear_params lp{};
        lp.struct_size = sizeof lp;
        lp.x = p.upload(random_floats(static_cast<size_t>(m * k), 8), TSR_DTYPE_F32, {m, k});
        lp.weight = w;
        lp.out = p.empty(TSR_DTYPE_F32, {m, n});
        expect_ok(p.ops().linear(p.stream(), &lp));
        out["linear." + std::to_string(f) + "." + std::to_string(group) + "." + std::to_string(m)] =
            read(p, lp.out);
      }
      expect_ok(p.api().weight_destroy(w));
    }
  }
  // Paged attention's dot/axpy loops over an f32 and a bf16 cache.
  for (tsr_dtype kv : {TSR_DTYPE_F32, TSR_DTYPE_BF16}) {
    tsr_kv_layout layout{sizeof(tsr_kv_layout), 2, 37, 8, kv};
    uint64_t block_bytes = 0;
    expect_ok(p.api().kv_block_bytes(p.device(), &layout, &block_bytes));
    tsr_buffer_t cache = p.alloc(static_cast<size_t>(block_bytes * 4));
    const int64_t len = 27;
    // Position i lives in slot table[i / 8] * 8 + i % 8 of the block table below, so
    // attention reads only slots this write filled (the rest of the cache is uninitialized).
    const std::vector<int32_t> table{2, 0, 3, 1};
    std::vector<int64_t> slots;
    for (int64_t i = 0; i < len; ++i) slots.push_back(table[i / 8] * 8 + i % 8);
    tsr_kv_cache_write_params w{};
    w.struct_size = sizeof w;
    w.key = p.upload(random_floats(static_cast<size_t>(len * 74), 9), TSR_DTYPE_F32, {len, 2, 37});
    w.value =
        p.upload(random_floats(static_cast<size_t>(len * 74), 10), TSR_DTYPE_F32, {len, 2, 37});
    w.slot_mapping = p.upload(slots, TSR_DTYPE_I64, {len});
    w.cache = cache;
    w.layout = layout;
    w.num_blocks = 4;
    expect_ok(p.ops().kv_cache_write(p.stream(), &w));
    tsr_paged_attention_params a{};
    a.struct_size = sizeof a;
    a.query = p.upload(random_floats(3 * 6 * 37, 11), TSR_DTYPE_F32, {3, 6, 37});
    a.out = p.empty(TSR_DTYPE_F32, {3, 6, 37});
    a.cache = cache;
    a.layout = layout;
    a.num_blocks = 4;
    a.query_start_loc = p.upload(std::vector<int32_t>{0, 3}, TSR_DTYPE_I32, {2});
    a.seq_lens = p.upload(std::vector<int32_t>{static_cast<int32_t>(len)}, TSR_DTYPE_I32, {1});
    a.block_tables = p.upload(table, TSR_DTYPE_I32, {1, 4});
    a.num_query_heads = 6;
    a.max_seq_len = static_cast<int32_t>(len);
    a.scale = 0.15f;
    expect_ok(p.ops().paged_attention(p.stream(), &a));
    out[std::string("attention.") + tsr::sdk::dtype_name(kv)] = read(p, a.out);
  }
  return out;
}

void expect_same(const Outputs& generic, const Outputs& other) {
  ASSERT_EQ(generic.size(), other.size());
  for (const auto& [name, values] : generic) {
    const auto& o = other.at(name);
    // f32 results differ only by summation order/FMA; bf16/f16 results by at most a
    // rounding step of the output dtype.
    const bool narrow =
        name.find("bf16") != std::string::npos || name.find("f16") != std::string::npos;
    EXPECT_LT(normalized_error(o, values), narrow ? 8e-3 : 2e-6) << name;
  }
}

TEST(Isa, Avx2MatchesGeneric) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "this CPU has no AVX2";
  Plugin generic(Options{{"cpu.isa", "generic"}});
  Plugin avx2(Options{{"cpu.isa", "avx2"}});
  ASSERT_EQ(generic.active_isa(), "generic");
  ASSERT_EQ(avx2.active_isa(), "avx2");
  expect_same(run_kernels(generic), run_kernels(avx2));
}

TEST(Isa, Avx512MatchesGeneric) {
  if (!cpu_has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512";
  Plugin generic(Options{{"cpu.isa", "generic"}});
  Plugin avx512(Options{{"cpu.isa", "avx512"}});
  ASSERT_EQ(avx512.active_isa(), "avx512");
  expect_same(run_kernels(generic), run_kernels(avx512));
}

// One key scores 95 above the 19 others, so their softmax weights, exp(-95) ~ 5.5e-42, are
// subnormal floats: the kernels flush them to zero (kernels.h: a subnormal multiply takes a
// microcode assist) and the result must still be the first value row to f32 rounding (the
// flushed weights' exact share is below 1e-40), on every ISA path.
TEST(Isa, AttentionWithSubnormalSoftmaxWeightsIsExact) {
  std::vector<std::string> isas{"generic"};
  if (cpu_has_avx2()) isas.push_back("avx2");
  if (cpu_has_avx512()) isas.push_back("avx512");
  constexpr int64_t kLen = 20, kDim = 16;
  std::vector<float> keys(kLen * kDim, 0.0f), values = random_floats(kLen * kDim, 12);
  for (int64_t d = 0; d < kDim; ++d) keys[d] = 1.0f;  // key 0 . query = 16, the others 0
  for (const auto& isa : isas) {
    SCOPED_TRACE(isa);
    Plugin p(Options{{"cpu.isa", isa}});
    tsr_kv_layout layout{sizeof(tsr_kv_layout), 1, static_cast<int32_t>(kDim), 16, TSR_DTYPE_F32};
    uint64_t block_bytes = 0;
    expect_ok(p.api().kv_block_bytes(p.device(), &layout, &block_bytes));
    tsr_buffer_t cache = p.alloc(static_cast<size_t>(block_bytes * 2));
    std::vector<int64_t> slots;
    for (int64_t i = 0; i < kLen; ++i) slots.push_back(i);
    tsr_kv_cache_write_params w{};
    w.struct_size = sizeof w;
    w.key = p.upload(keys, TSR_DTYPE_F32, {kLen, 1, kDim});
    w.value = p.upload(values, TSR_DTYPE_F32, {kLen, 1, kDim});
    w.slot_mapping = p.upload(slots, TSR_DTYPE_I64, {kLen});
    w.cache = cache;
    w.layout = layout;
    w.num_blocks = 2;
    expect_ok(p.ops().kv_cache_write(p.stream(), &w));
    tsr_paged_attention_params a{};
    a.struct_size = sizeof a;
    a.query = p.upload(std::vector<float>(kDim, 1.0f), TSR_DTYPE_F32, {1, 1, kDim});
    a.out = p.empty(TSR_DTYPE_F32, {1, 1, kDim});
    a.cache = cache;
    a.layout = layout;
    a.num_blocks = 2;
    a.query_start_loc = p.upload(std::vector<int32_t>{0, 1}, TSR_DTYPE_I32, {2});
    a.seq_lens = p.upload(std::vector<int32_t>{static_cast<int32_t>(kLen)}, TSR_DTYPE_I32, {1});
    a.block_tables = p.upload(std::vector<int32_t>{0, 1}, TSR_DTYPE_I32, {1, 2});
    a.num_query_heads = 1;
    a.max_seq_len = static_cast<int32_t>(kLen);
    a.scale = 95.0f / 16.0f;
    expect_ok(p.ops().paged_attention(p.stream(), &a));
    const auto out = p.download<float>(a.out, kDim);
    for (int64_t d = 0; d < kDim; ++d) {
      EXPECT_NEAR(out[d], values[d], 2e-7 * std::fabs(values[d])) << "element " << d;
    }
  }
}

std::string best_isa() {
  return cpu_has_avx512() ? "avx512" : cpu_has_avx2() ? "avx2" : "generic";
}

TEST(Isa, DefaultIsBestAvailable) {
  Plugin p;
  EXPECT_EQ(p.active_isa(), best_isa());
}

TEST(Isa, UnavailableRequestFallsBackWithWarning) {
  // Ask for something this CPU lacks (or an unknown name where it has everything).
  const std::string request = cpu_has_avx512() ? "avx1024" : "avx512";
  Plugin p(Options{{"cpu.isa", request}});
  EXPECT_EQ(p.active_isa(), best_isa());
  EXPECT_TRUE(p.host().logged(TSR_LOG_LEVEL_WARN, request)) << "no warning naming " << request;
  // And the fallback kernels run.
  const Outputs out = run_kernels(p);
  EXPECT_FALSE(out.empty());
}

TEST(Isa, EnvironmentSelectsAndOptionWins) {
  ASSERT_EQ(setenv("TESSERA_CPU_ISA", "generic", 1), 0);
  {
    Plugin from_env;
    EXPECT_EQ(from_env.active_isa(), "generic");
  }
  if (cpu_has_avx2()) {
    Plugin option_wins(Options{{"cpu.isa", "avx2"}});
    EXPECT_EQ(option_wins.active_isa(), "avx2");
  }
  ASSERT_EQ(unsetenv("TESSERA_CPU_ISA"), 0);
}

TEST(Threads, OptionSetsCountAndBadValueWarns) {
  Plugin one(Options{{"cpu.num_threads", "1"}});
  EXPECT_EQ(one.diag("cpu.threads"), "1");
  Plugin bad(Options{{"cpu.num_threads", "many"}});
  EXPECT_TRUE(bad.host().logged(TSR_LOG_LEVEL_WARN, "cpu.num_threads"));
  EXPECT_NE(bad.diag("cpu.threads"), "");
}

}  // namespace
}  // namespace tsr::test
