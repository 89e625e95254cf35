// Sampling: greedy ties, determinism by (seed, step) independent of the row, filters
// (top-k, top-p, min-p) never escaping their candidate sets, penalties, and logprobs.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "plugin_harness.h"
#include "reference.h"

namespace tsr::test {
namespace {

struct SampleInputs {
  std::vector<float> logits;
  int64_t rows = 0;
  int64_t vocab = 0;
  std::vector<float> temperature;
  std::vector<int32_t> top_k;
  std::vector<float> top_p;
  std::vector<float> min_p;
  std::vector<uint64_t> seeds;
  uint64_t step = 0;
  int32_t top_n = 0;
};

struct SampleResult {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<int32_t> top_ids;
  std::vector<float> top_values;
};

SampleResult run(Plugin& p, const SampleInputs& in, tsr_sample_params* extra = nullptr) {
  tsr_sample_params s{};
  if (extra != nullptr) s = *extra;
  s.struct_size = sizeof s;
  s.logits = p.upload(in.logits, TSR_DTYPE_F32, {in.rows, in.vocab});
  if (!in.temperature.empty()) s.temperature = p.upload(in.temperature, TSR_DTYPE_F32, {in.rows});
  if (!in.top_k.empty()) s.top_k = p.upload(in.top_k, TSR_DTYPE_I32, {in.rows});
  if (!in.top_p.empty()) s.top_p = p.upload(in.top_p, TSR_DTYPE_F32, {in.rows});
  if (!in.min_p.empty()) s.min_p = p.upload(in.min_p, TSR_DTYPE_F32, {in.rows});
  if (!in.seeds.empty()) s.seeds = p.upload(in.seeds, TSR_DTYPE_U64, {in.rows});
  s.step = in.step;
  s.out_tokens = p.empty(TSR_DTYPE_I32, {in.rows});
  s.out_logprobs = p.empty(TSR_DTYPE_F32, {in.rows});
  s.num_top_logprobs = in.top_n;
  if (in.top_n > 0) {
    s.top_ids = p.empty(TSR_DTYPE_I32, {in.rows, in.top_n});
    s.top_values = p.empty(TSR_DTYPE_F32, {in.rows, in.top_n});
  }
  const Status st = take(p.ops().sample(p.stream(), &s));
  EXPECT_TRUE(st.ok()) << st.message;
  SampleResult r;
  r.tokens = p.download<int32_t>(s.out_tokens, static_cast<size_t>(in.rows));
  r.logprobs = p.download<float>(s.out_logprobs, static_cast<size_t>(in.rows));
  if (in.top_n > 0) {
    r.top_ids = p.download<int32_t>(s.top_ids, static_cast<size_t>(in.rows * in.top_n));
    r.top_values = p.download<float>(s.top_values, static_cast<size_t>(in.rows * in.top_n));
  }
  return r;
}

TEST(Sample, GreedyPicksLowestIndexOnTies) {
  Plugin p;
  SampleInputs in;
  in.rows = 2;
  in.vocab = 10;
  in.logits.assign(20, 0.0f);
  in.logits[3] = in.logits[7] = 5.0f;  // row 0: tie between 3 and 7
  in.logits[10 + 9] = 1.0f;            // row 1: unique max at 9
  in.temperature = {0.0f, 1e-6f};
  in.top_n = 3;
  const SampleResult r = run(p, in);
  EXPECT_EQ(r.tokens[0], 3);
  EXPECT_EQ(r.tokens[1], 9);
  // Top logprobs: best first, ties by lower id; values are log-softmax.
  EXPECT_EQ(r.top_ids[0], 3);
  EXPECT_EQ(r.top_ids[1], 7);
  EXPECT_EQ(r.top_ids[2], 0);
  const double lse = std::log(2 * std::exp(5.0) + 8.0);
  EXPECT_NEAR(r.top_values[0], 5.0 - lse, 1e-5);
  EXPECT_NEAR(r.top_values[2], 0.0 - lse, 1e-5);
  EXPECT_NEAR(r.logprobs[0], 5.0 - lse, 1e-5);
}

TEST(Sample, SameSeedAndStepGiveSameTokenInAnyRow) {
  Plugin p;
  const int64_t vocab = 500;
  const auto row = random_floats(vocab, 3, -2.0f, 2.0f);
  SampleInputs in;
  in.rows = 4;
  in.vocab = vocab;
  for (int r = 0; r < 4; ++r) in.logits.insert(in.logits.end(), row.begin(), row.end());
  in.temperature = {1.0f, 1.0f, 1.0f, 1.0f};
  in.seeds = {7, 8, 7, 9};
  in.step = 12;
  const SampleResult a = run(p, in);
  const SampleResult b = run(p, in);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.tokens[0], a.tokens[2]);
  // Different steps draw differently at least sometimes.
  std::set<int32_t> seen;
  for (uint64_t step = 0; step < 32; ++step) {
    in.step = step;
    seen.insert(run(p, in).tokens[0]);
  }
  EXPECT_GT(seen.size(), 4u);
  // The chosen token's logprob is its log-softmax over the (unscaled) logits.
  double lse = 0.0;
  for (float v : row) lse += std::exp(static_cast<double>(v));
  lse = std::log(lse);
  EXPECT_NEAR(a.logprobs[1], row[static_cast<size_t>(a.tokens[1])] - lse, 1e-5);
}

TEST(Sample, FiltersKeepDrawsInsideTheirSets) {
  Plugin p;
  const int64_t vocab = 50;
  std::vector<float> row(vocab);
  for (int64_t i = 0; i < vocab; ++i)
    row[static_cast<size_t>(i)] = static_cast<float>(i % 10) * 0.1f;
  // Largest values: ids 9, 19, 29, 39, 49 (0.9), then 8, 18, ... (0.8).
  SampleInputs in;
  in.rows = 3;
  in.vocab = vocab;
  for (int r = 0; r < 3; ++r) in.logits.insert(in.logits.end(), row.begin(), row.end());
  in.temperature = {1.0f, 1.0f, 1.0f};
  in.top_k = {3, 0, 0};
  in.top_p = {1.0f, 0.02f, 1.0f};
  in.min_p = {0.0f, 0.0f, 0.95f};
  for (uint64_t seed = 0; seed < 40; ++seed) {
    in.seeds = {seed, seed, seed};
    const SampleResult r = run(p, in);
    EXPECT_TRUE(r.tokens[0] == 9 || r.tokens[0] == 19 || r.tokens[0] == 29) << r.tokens[0];
    EXPECT_EQ(r.tokens[1], 9);       // top-p 0.02 keeps only the single best (lowest id on ties)
    EXPECT_EQ(r.tokens[2] % 10, 9);  // min-p 0.95 keeps the 0.9s only (exp(-0.1) < 0.95)
  }
}

TEST(Sample, RepetitionPenaltyChangesGreedyChoice) {
  Plugin p;
  SampleInputs in;
  in.rows = 1;
  in.vocab = 4;
  in.logits = {1.0f, 3.0f, 2.5f, 0.0f};
  in.temperature = {0.0f};
  std::vector<int32_t> history = {1, 3};
  std::vector<int32_t> offsets = {0, 2};
  std::vector<int32_t> prompt_lens = {1};
  std::vector<float> rep = {2.0f};
  tsr_sample_params extra{};
  extra.history_tokens = p.upload(history, TSR_DTYPE_I32, {2});
  extra.history_offsets = p.upload(offsets, TSR_DTYPE_I32, {2});
  extra.history_prompt_lens = p.upload(prompt_lens, TSR_DTYPE_I32, {1});
  extra.repetition_penalty = p.upload(rep, TSR_DTYPE_F32, {1});
  const SampleResult r = run(p, in, &extra);
  EXPECT_EQ(r.tokens[0], 2);  // 3.0 / 2 = 1.5 < 2.5
  const double lse = std::log(std::exp(1.0) + std::exp(1.5) + std::exp(2.5) + std::exp(0.0));
  EXPECT_NEAR(r.logprobs[0], 2.5 - lse, 1e-5);
}

}  // namespace
}  // namespace tsr::test
