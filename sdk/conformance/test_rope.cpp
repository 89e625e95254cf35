// rope: neox and GPT-J pairing, full and partial rotary dims, no/linear/Llama 3/LongRoPE scaling,
// GQA head counts, key present or absent, in place, against the formulas of plugin.h.
#include <cstddef>

#include "harness.h"
#include "reference_ops.h"

namespace tsr::conformance {
namespace {

TSR_CONFORMANCE_COVERS(rope);

class Rope : public ConformanceTest {};

struct RopeCase {
  int64_t tokens, hq, hk, dim;
  int32_t rotary_dim;
  bool neox;
  tsr_rope_scaling scaling;
  double theta;
  bool with_key;
};

std::string describe(const RopeCase& c) {
  const char* scaling = c.scaling == TSR_ROPE_SCALING_NONE     ? "none"
                        : c.scaling == TSR_ROPE_SCALING_LINEAR ? "linear"
                        : c.scaling == TSR_ROPE_SCALING_LLAMA3 ? "llama3"
                                                               : "longrope";
  return "T=" + std::to_string(c.tokens) + " Hq=" + std::to_string(c.hq) +
         " Hk=" + std::to_string(c.hk) + " D=" + std::to_string(c.dim) +
         " rotary=" + std::to_string(c.rotary_dim) + (c.neox ? " neox" : " gptj") +
         " scaling=" + scaling + " theta=" + std::to_string(static_cast<int64_t>(c.theta)) +
         (c.with_key ? "" : " no-key");
}

// f32 angles of large positions differ by an ulp between pow() implementations; the
// bound stays far below what a wrong pairing or frequency produces (errors of order 1).
double rope_tolerance(tsr_dtype dt) {
  return dt == TSR_DTYPE_F32 ? 2e-4 : tolerance(dt);
}

TEST_F(Rope, MatchesReference) {
  TSR_REQUIRE_OP(TSR_OP_ROPE);
  CaseSkips skips(TSR_OP_ROPE);
  const std::vector<RopeCase> cases = {
      {1, 1, 1, 64, 64, true, TSR_ROPE_SCALING_NONE, 10000, true},
      {7, 4, 1, 128, 128, true, TSR_ROPE_SCALING_NONE, 500000, true},
      {33, 7, 1, 64, 64, false, TSR_ROPE_SCALING_NONE, 10000, true},
      {5, 8, 2, 128, 64, true, TSR_ROPE_SCALING_NONE, 10000, true},
      {9, 4, 4, 64, 32, false, TSR_ROPE_SCALING_NONE, 10000, true},
      {17, 4, 1, 128, 128, true, TSR_ROPE_SCALING_LINEAR, 10000, true},
      {17, 8, 1, 128, 128, true, TSR_ROPE_SCALING_LLAMA3, 500000, true},
      {3, 6, 2, 64, 64, false, TSR_ROPE_SCALING_LLAMA3, 500000, true},
      {4, 4, 1, 64, 64, true, TSR_ROPE_SCALING_NONE, 10000, false},
      // ABI 1.2. Positions are drawn from [0, 2047] and the original context is 1024, so
      // both tables rotate tokens of one call.
      {19, 4, 2, 96, 96, true, TSR_ROPE_SCALING_LONGROPE, 10000, true},
      {6, 2, 1, 64, 32, false, TSR_ROPE_SCALING_LONGROPE, 10000, true},
  };
  for (tsr_dtype dt : activation_dtypes()) {
    for (const RopeCase& c : cases) {
      const std::string name = std::string(dtype_label(dt)) + " " + describe(c);
      SCOPED_TRACE(name);
      ref::RopeConfig cfg;
      cfg.rotary_dim = c.rotary_dim;
      cfg.neox = c.neox;
      cfg.theta = c.theta;
      cfg.scaling = c.scaling;
      cfg.factor = c.scaling == TSR_ROPE_SCALING_LLAMA3 ? 8.0 : 4.0;
      cfg.low_freq_factor = 1.0;
      cfg.high_freq_factor = 4.0;
      cfg.original_max_position = c.scaling == TSR_ROPE_SCALING_LONGROPE ? 1024 : 8192;
      if (c.scaling == TSR_ROPE_SCALING_LONGROPE) {  // drawn only here: other cases keep their data
        for (double f : random_uniform(static_cast<size_t>(c.rotary_dim / 2), 1.0, 2.0)) {
          cfg.short_factors.push_back(static_cast<float>(f));
        }
        for (double f : random_uniform(static_cast<size_t>(c.rotary_dim / 2), 1.0, 40.0)) {
          cfg.long_factors.push_back(static_cast<float>(f));
        }
      }
      cfg.attention_factor = 1.19;
      Stream s;
      Tensor q(s, dt, {c.tokens, c.hq, c.dim}, "query"), k(s, dt, {c.tokens, c.hk, c.dim}, "key"),
          pos(s, TSR_DTYPE_I32, {c.tokens}, "positions");
      tsr_rope_params p{};
      p.struct_size = sizeof p;
      p.query = q.view();
      p.key = c.with_key ? k.view() : absent_tensor();
      p.positions = pos.view();
      p.rotary_dim = c.rotary_dim;
      p.neox_style = c.neox ? 1 : 0;
      p.theta = static_cast<float>(c.theta);
      p.scaling = c.scaling;
      p.factor = static_cast<float>(cfg.factor);
      p.low_freq_factor = static_cast<float>(cfg.low_freq_factor);
      p.high_freq_factor = static_cast<float>(cfg.high_freq_factor);
      p.original_max_position = cfg.original_max_position;
      p.short_factors = cfg.short_factors.empty() ? nullptr : cfg.short_factors.data();
      p.long_factors = cfg.long_factors.empty() ? nullptr : cfg.long_factors.data();
      p.attention_factor = static_cast<float>(cfg.attention_factor);
      std::vector<int32_t> positions(c.tokens);
      std::vector<double> pos_values(c.tokens);
      for (int64_t t = 0; t < c.tokens; ++t) {
        positions[t] = static_cast<int32_t>(t == 0 ? 0 : random_int(0, 2047));
        pos_values[t] = positions[t];
      }
      std::vector<double> qv = rounded(dt, random_normal(q.numel()));
      std::vector<double> kv = rounded(dt, random_normal(k.numel()));
      q.upload(qv);
      k.upload(kv);
      pos.upload(pos_values);
      if (!op_supported_for(TSR_OP_ROPE, &p)) {
        skips.declined(name);
        continue;
      }
      skips.ran();
      TSR_ASSERT_OK(api().ops->rope(s.get(), &p));
      s.sync();
      std::vector<double> kv_in = kv;
      ref::rope(qv, positions, c.hq, c.dim, cfg);
      EXPECT_TRUE(close(q.values(), qv, rope_tolerance(dt))) << "query";
      if (c.with_key) {
        ref::rope(kv, positions, c.hk, c.dim, cfg);
        EXPECT_TRUE(close(k.values(), kv, rope_tolerance(dt))) << "key";
      } else {
        EXPECT_EQ(k.values(), kv_in) << "key changed although absent";
      }
      for (const Tensor* t : {&q, &k, &pos}) t->check_guards();
    }
  }
  TSR_FINISH_CASES(skips);
}

// ABI 1.2: LONGROPE from a caller whose struct ends before the factors is refused, as are
// missing or non-positive factors.
TEST_F(Rope, LongRopeNeedsItsFields) {
  TSR_REQUIRE_OP(TSR_OP_ROPE);
  Stream s;
  Tensor q(s, TSR_DTYPE_F32, {2, 1, 8}, "query"), pos(s, TSR_DTYPE_I32, {2}, "positions");
  q.upload(random_normal(q.numel()));
  pos.upload({0.0, 5.0});
  const std::vector<float> ones(4, 1.0f);
  const std::vector<float> bad = {1.0f, 0.0f, 1.0f, 1.0f};
  tsr_rope_params p{};
  p.struct_size = sizeof p;
  p.query = q.view();
  p.key = absent_tensor();
  p.positions = pos.view();
  p.rotary_dim = 8;
  p.neox_style = 1;
  p.theta = 10000.0f;
  p.scaling = TSR_ROPE_SCALING_LONGROPE;
  p.original_max_position = 4;
  p.short_factors = ones.data();
  p.long_factors = ones.data();
  p.attention_factor = 1.0f;
  if (!op_supported_for(TSR_OP_ROPE, &p)) GTEST_SKIP() << "the plugin declines LONGROPE";
  TSR_ASSERT_OK(api().ops->rope(s.get(), &p));
  s.sync();
  tsr_rope_params old = p;
  old.struct_size = offsetof(tsr_rope_params, short_factors);
  tsr_rope_params no_long = p;
  no_long.long_factors = nullptr;
  tsr_rope_params zero_factor = p;
  zero_factor.short_factors = bad.data();
  tsr_rope_params no_factor = p;
  no_factor.attention_factor = 0.0f;
  for (const tsr_rope_params* wrong : {&old, &no_long, &zero_factor, &no_factor}) {
    const Status st = take(api().ops->rope(s.get(), wrong));
    EXPECT_EQ(st.code, TSR_ERROR_CODE_INVALID_ARGUMENT) << st.message;
  }
  q.check_guards();
}

}  // namespace
}  // namespace tsr::conformance
