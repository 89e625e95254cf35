// sample: greedy is argmax with the lowest index on ties (after penalties), top_k = 1 is
// argmax, sampled tokens always lie in the top-k/top-p/min-p survivor set, the same
// (seed, step, logits) gives the same token wherever the row sits, frequencies follow the
// distribution, and logprobs / top logprobs match the float64 log-softmax.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <numeric>
#include <set>

#include "harness.h"
#include "reference_ops.h"

namespace tsr::conformance {
namespace {

TSR_CONFORMANCE_COVERS(sample);

class Sample : public ConformanceTest {};

struct SampleResult {
  std::vector<int32_t> tokens;
  std::vector<double> logprobs;
  std::vector<int32_t> top_ids;
  std::vector<double> top_values;
  bool declined = false;
};

// Runs one sample call over `rows` (all of one vocabulary size).
SampleResult run_sample(const std::vector<ref::SampleRow>& rows, const std::vector<uint64_t>& seeds,
                        uint64_t step, int32_t num_top = 0) {
  SampleResult result;
  const int64_t b = static_cast<int64_t>(rows.size());
  const int64_t v = static_cast<int64_t>(rows[0].logits.size());
  std::vector<double> logits, temp, top_k, top_p, min_p, rep, pres, freq, seed_d, hist, offsets{0},
      prompt_lens;
  for (const ref::SampleRow& r : rows) {
    logits.insert(logits.end(), r.logits.begin(), r.logits.end());
    temp.push_back(r.temperature);
    top_k.push_back(r.top_k);
    top_p.push_back(r.top_p);
    min_p.push_back(r.min_p);
    rep.push_back(r.repetition);
    pres.push_back(r.presence);
    freq.push_back(r.frequency);
    hist.insert(hist.end(), r.prompt.begin(), r.prompt.end());
    hist.insert(hist.end(), r.output.begin(), r.output.end());
    offsets.push_back(static_cast<double>(hist.size()));
    prompt_lens.push_back(static_cast<double>(r.prompt.size()));
  }
  Stream s;
  const auto f32 = [&](const char* name) {
    return std::make_unique<Tensor>(s, TSR_DTYPE_F32, std::vector<int64_t>{b}, name);
  };
  Tensor logits_t(s, TSR_DTYPE_F32, {b, v}, "logits");
  auto temp_t = f32("temperature"), top_p_t = f32("top_p"), min_p_t = f32("min_p"),
       rep_t = f32("repetition_penalty"), pres_t = f32("presence_penalty"),
       freq_t = f32("frequency_penalty"), logprob_t = f32("out_logprobs");
  Tensor top_k_t(s, TSR_DTYPE_I32, {b}, "top_k"), seeds_t(s, TSR_DTYPE_U64, {b}, "seeds");
  Tensor hist_t(s, TSR_DTYPE_I32, {static_cast<int64_t>(hist.size())}, "history_tokens");
  Tensor off_t(s, TSR_DTYPE_I32, {b + 1}, "history_offsets"),
      plen_t(s, TSR_DTYPE_I32, {b}, "history_prompt_lens");
  Tensor tokens_t(s, TSR_DTYPE_I32, {b}, "out_tokens");
  Tensor top_ids_t(s, TSR_DTYPE_I32, {b, std::max(num_top, 1)}, "top_ids");
  Tensor top_values_t(s, TSR_DTYPE_F32, {b, std::max(num_top, 1)}, "top_values");
  tsr_sample_params p{};
  p.struct_size = sizeof p;
  p.logits = logits_t.view();
  p.temperature = temp_t->view();
  p.top_k = top_k_t.view();
  p.top_p = top_p_t->view();
  p.min_p = min_p_t->view();
  p.repetition_penalty = rep_t->view();
  p.presence_penalty = pres_t->view();
  p.frequency_penalty = freq_t->view();
  p.seeds = seeds_t.view();
  p.step = step;
  p.history_tokens = hist_t.view();
  p.history_offsets = off_t.view();
  p.history_prompt_lens = plen_t.view();
  p.out_tokens = tokens_t.view();
  p.out_logprobs = logprob_t->view();
  p.num_top_logprobs = num_top;
  p.top_ids = num_top > 0 ? top_ids_t.view() : absent_tensor();
  p.top_values = num_top > 0 ? top_values_t.view() : absent_tensor();
  logits_t.upload(logits);
  temp_t->upload(temp);
  top_k_t.upload(top_k);
  top_p_t->upload(top_p);
  min_p_t->upload(min_p);
  rep_t->upload(rep);
  pres_t->upload(pres);
  freq_t->upload(freq);
  std::vector<uint8_t> seed_bytes(seeds.size() * 8);
  std::memcpy(seed_bytes.data(), seeds.data(), seed_bytes.size());
  seeds_t.upload_bytes(seed_bytes);
  hist_t.upload(hist);
  off_t.upload(offsets);
  plen_t.upload(prompt_lens);
  if (!op_supported_for(TSR_OP_SAMPLE, &p)) {
    result.declined = true;
    return result;
  }
  const Status st = take(api().ops->sample(s.get(), &p));
  EXPECT_TRUE(st.ok) << "sample: " << code_name(st.code) << ": " << st.message;
  s.sync();
  for (double t : tokens_t.values()) result.tokens.push_back(static_cast<int32_t>(t));
  result.logprobs = logprob_t->values();
  if (num_top > 0) {
    for (double t : top_ids_t.values()) result.top_ids.push_back(static_cast<int32_t>(t));
    result.top_values = top_values_t.values();
  }
  for (const Tensor* t : {&logits_t, &top_k_t, &seeds_t, &hist_t, &off_t, &plen_t, &tokens_t,
                          &top_ids_t, &top_values_t}) {
    t->check_guards();
  }
  for (const auto* t : {&temp_t, &top_p_t, &min_p_t, &rep_t, &pres_t, &freq_t, &logprob_t}) {
    (*t)->check_guards();
  }
  return result;
}

ref::SampleRow random_row(int64_t vocab, double spread = 3.0) {
  ref::SampleRow row;
  row.logits = rounded(TSR_DTYPE_F32, random_normal(vocab, spread));
  const int64_t prompt = random_int(0, 6), output = random_int(0, 6);
  for (int64_t i = 0; i < prompt; ++i)
    row.prompt.push_back(static_cast<int32_t>(random_int(0, vocab - 1)));
  for (int64_t i = 0; i < output; ++i)
    row.output.push_back(static_cast<int32_t>(random_int(0, vocab - 1)));
  return row;
}

std::vector<uint64_t> random_seeds(size_t n) {
  std::vector<uint64_t> out(n);
  for (uint64_t& s : out) s = rng()();
  return out;
}

void expect_logprob(const ref::SampleRow& row, int32_t token, double got) {
  const std::vector<double> lp = ref::log_softmax(ref::penalized(row));
  EXPECT_NEAR(got, lp[token], 1e-3 * std::max(1.0, std::fabs(lp[token])))
      << "logprob of token " << token;
}

TEST_F(Sample, GreedyIsArgmaxAfterPenalties) {
  TSR_REQUIRE_OP(TSR_OP_SAMPLE);
  for (int64_t vocab : {int64_t{7}, int64_t{1000}, int64_t{50000}}) {
    SCOPED_TRACE("V=" + std::to_string(vocab));
    std::vector<ref::SampleRow> rows;
    for (int i = 0; i < 9; ++i) {
      ref::SampleRow row = random_row(vocab);
      row.temperature = i % 3 == 0 ? 0.0 : 1e-6;
      if (i % 2 == 1) {
        row.repetition = 1.3;
        row.presence = 0.5;
        row.frequency = 0.25;
      }
      rows.push_back(row);
    }
    // Exact ties: the lowest index wins.
    ref::SampleRow tie = random_row(vocab);
    tie.prompt.clear();
    tie.output.clear();
    tie.temperature = 0.0;
    const double top = *std::max_element(tie.logits.begin(), tie.logits.end()) + 1.0;
    tie.logits[vocab - 1] = top;
    tie.logits[vocab / 2] = top;
    tie.logits[1] = top;
    rows.push_back(tie);
    const SampleResult r = run_sample(rows, random_seeds(rows.size()), 3);
    if (r.declined)
      GTEST_SKIP() << "op sample declined by plugin " << plugin().name << " (op_supported = 0)";
    ASSERT_EQ(r.tokens.size(), rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      const std::vector<double> pl = ref::penalized(rows[i]);
      std::vector<double> sorted = pl;
      std::sort(sorted.rbegin(), sorted.rend());
      const int32_t expect = ref::argmax(pl);
      if (sorted[0] - sorted[1] > 1e-4 || i + 1 == rows.size()) {
        EXPECT_EQ(r.tokens[i], expect) << "row " << i;
      } else {
        ASSERT_GE(r.tokens[i], 0);
        EXPECT_GE(pl[r.tokens[i]], sorted[0] - 1e-4) << "row " << i << " (near tie)";
      }
      if (r.tokens[i] >= 0 && r.tokens[i] < vocab)
        expect_logprob(rows[i], r.tokens[i], r.logprobs[i]);
    }
  }
}

TEST_F(Sample, TopKOneIsArgmax) {
  TSR_REQUIRE_OP(TSR_OP_SAMPLE);
  std::vector<ref::SampleRow> rows;
  for (int i = 0; i < 16; ++i) {
    ref::SampleRow row = random_row(129);
    row.temperature = 1.5;
    row.top_k = 1;
    rows.push_back(row);
  }
  for (uint64_t step : {0ull, 1ull, 77ull}) {
    const SampleResult r = run_sample(rows, random_seeds(rows.size()), step);
    if (r.declined) GTEST_SKIP() << "op sample declined (op_supported = 0)";
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(r.tokens[i], ref::argmax(ref::penalized(rows[i])))
          << "row " << i << " step " << step;
    }
  }
}

TEST_F(Sample, TokensStayInsideTheSurvivorSet) {
  TSR_REQUIRE_OP(TSR_OP_SAMPLE);
  for (int64_t vocab : {int64_t{33}, int64_t{1000}}) {
    std::vector<ref::SampleRow> rows;
    const double temps[] = {0.7, 1.0, 1.5};
    const int32_t ks[] = {0, 5, 50};
    const double ps[] = {1.0, 0.9, 0.5};
    const double mins[] = {0.0, 0.05, 0.2};
    for (int i = 0; i < 48; ++i) {
      ref::SampleRow row = random_row(vocab, 2.0);
      row.temperature = temps[i % 3];
      row.top_k = ks[(i / 3) % 3];
      row.top_p = ps[(i / 9) % 3];
      row.min_p = mins[(i / 27 + i) % 3];
      if (i % 4 == 0) {
        row.repetition = 1.2;
        row.frequency = 0.3;
        row.presence = 0.2;
      }
      rows.push_back(row);
    }
    const std::vector<uint64_t> seeds = random_seeds(rows.size());
    for (uint64_t step = 0; step < 6; ++step) {
      SCOPED_TRACE("V=" + std::to_string(vocab) + " step=" + std::to_string(step));
      const SampleResult r = run_sample(rows, seeds, step);
      if (r.declined) GTEST_SKIP() << "op sample declined (op_supported = 0)";
      for (size_t i = 0; i < rows.size(); ++i) {
        const std::set<int32_t> keep = ref::survivors(rows[i]);
        EXPECT_TRUE(keep.count(r.tokens[i]) > 0)
            << "row " << i << ": token " << r.tokens[i]
            << " is outside the survivors (t=" << rows[i].temperature << " top_k=" << rows[i].top_k
            << " top_p=" << rows[i].top_p << " min_p=" << rows[i].min_p << ", " << keep.size()
            << " survivors)";
        if (r.tokens[i] >= 0 && r.tokens[i] < vocab)
          expect_logprob(rows[i], r.tokens[i], r.logprobs[i]);
      }
    }
  }
}

TEST_F(Sample, SameSeedAndStepGiveTheSameToken) {
  TSR_REQUIRE_OP(TSR_OP_SAMPLE);
  std::vector<ref::SampleRow> rows;
  for (int i = 0; i < 8; ++i) {
    ref::SampleRow row = random_row(500, 1.0);
    row.temperature = 1.0;
    rows.push_back(row);
  }
  const std::vector<uint64_t> seeds = random_seeds(rows.size());
  const SampleResult first = run_sample(rows, seeds, 42);
  if (first.declined) GTEST_SKIP() << "op sample declined (op_supported = 0)";
  const SampleResult again = run_sample(rows, seeds, 42);
  EXPECT_EQ(first.tokens, again.tokens) << "the same call twice gave different tokens";
  // The token depends on (seed, step, logits), not on where the row sits in the batch.
  std::vector<size_t> perm(rows.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::reverse(perm.begin(), perm.end());
  std::vector<ref::SampleRow> prow;
  std::vector<uint64_t> pseeds;
  for (size_t i : perm) {
    prow.push_back(rows[i]);
    pseeds.push_back(seeds[i]);
  }
  const SampleResult moved = run_sample(prow, pseeds, 42);
  for (size_t j = 0; j < perm.size(); ++j) {
    EXPECT_EQ(moved.tokens[j], first.tokens[perm[j]])
        << "row moved from " << perm[j] << " to " << j;
  }
  // Different steps must not all repeat the same draw.
  int changed = 0;
  for (uint64_t step = 43; step < 53; ++step) {
    const SampleResult other = run_sample(rows, seeds, step);
    for (size_t i = 0; i < rows.size(); ++i) changed += other.tokens[i] != first.tokens[i];
  }
  EXPECT_GT(changed, 0) << "the step does not influence the draw";
}

TEST_F(Sample, FrequenciesFollowTheDistribution) {
  TSR_REQUIRE_OP(TSR_OP_SAMPLE);
  const std::vector<double> probs = {0.4, 0.3, 0.2, 0.1};
  ref::SampleRow row;
  for (double pr : probs) row.logits.push_back(std::log(pr));
  row.logits = rounded(TSR_DTYPE_F32, row.logits);
  row.prompt = {0};
  const std::vector<ref::SampleRow> rows(1000, row);
  const std::vector<uint64_t> seeds = random_seeds(rows.size());
  std::vector<int> counts(probs.size(), 0);
  int total = 0;
  for (uint64_t step = 0; step < 4; ++step) {
    const SampleResult r = run_sample(rows, seeds, step);
    if (r.declined) GTEST_SKIP() << "op sample declined (op_supported = 0)";
    for (int32_t t : r.tokens) {
      ASSERT_TRUE(t >= 0 && t < 4) << "token " << t << " out of range";
      ++counts[t];
      ++total;
    }
  }
  // Hoeffding: a frequency of `total` independent draws strays from its probability by t
  // or more with probability at most 2 exp(-2 total t^2); over the 4 tokens (union bound) at
  // most 1e-9 gives t = sqrt(ln(8 / 1e-9) / (2 total)), 0.051 for 4000 draws. A sampler
  // off by that much (uniform draws, a misapplied temperature) still fails.
  const double allowed = std::sqrt(std::log(2.0 * probs.size() / 1e-9) / (2.0 * total));
  for (size_t i = 0; i < probs.size(); ++i) {
    EXPECT_NEAR(static_cast<double>(counts[i]) / total, probs[i], allowed) << "token " << i;
  }
}

TEST_F(Sample, TopLogprobs) {
  TSR_REQUIRE_OP(TSR_OP_SAMPLE);
  const int32_t n = 5;
  std::vector<ref::SampleRow> rows;
  for (int i = 0; i < 6; ++i) {
    ref::SampleRow row = random_row(257);
    row.temperature = i % 2 ? 0.0 : 0.8;
    row.repetition = i % 3 == 0 ? 1.1 : 1.0;
    rows.push_back(row);
  }
  // Ties at the top: ordered by lower id.
  rows[1].logits[200] = rows[1].logits[10] = 50.0;
  const SampleResult r = run_sample(rows, random_seeds(rows.size()), 0, n);
  if (r.declined) GTEST_SKIP() << "op sample with top logprobs declined (op_supported = 0)";
  ASSERT_EQ(r.top_ids.size(), rows.size() * n);
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::vector<double> lp = ref::log_softmax(ref::penalized(rows[i]));
    std::vector<int32_t> order(lp.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return lp[a] > lp[b]; });
    for (int32_t j = 0; j < n; ++j) {
      const int32_t got = r.top_ids[i * n + j];
      ASSERT_TRUE(got >= 0 && got < 257) << "row " << i << " rank " << j;
      if (std::fabs(lp[got] - lp[order[j]]) > 1e-5) {
        EXPECT_EQ(got, order[j]) << "row " << i << " rank " << j;
      } else if (lp[got] == lp[order[j]] && i == 1) {
        EXPECT_EQ(got, order[j]) << "ties must be ordered by lower id";
      }
      EXPECT_NEAR(r.top_values[i * n + j], lp[got], 1e-3 * std::max(1.0, std::fabs(lp[got])))
          << "row " << i << " rank " << j;
    }
  }
}

}  // namespace
}  // namespace tsr::conformance
