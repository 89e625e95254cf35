// The sample kernel (sample.cu) run by the SIMT emulator against the CPU plugin's sample op
// (the semantics reference, loaded through its C ABI): random batches with greedy rows,
// seeded top-k / top-p / min-p draws, ties, NaN and -inf logits, repetition, presence and
// frequency penalties over prompt and output history, and logprobs with top-N. Tokens and
// top-N ids must be equal and logprobs within 1e-5.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "emulation_util.h"
#include "plugin_harness.h"
#include "sample_kernels.h"

namespace tsr::test {
namespace {

struct Batch {
  int32_t rows = 0;
  int32_t vocab = 0;
  int32_t top_n = 0;
  uint64_t step = 0;
  std::vector<float> logits, temperature, top_p, min_p, repetition, presence, frequency;
  std::vector<int32_t> top_k, history, offsets, prompt_lens;
  std::vector<uint64_t> seeds;
};

struct Result {
  std::vector<int32_t> tokens, top_ids;
  std::vector<float> logprobs, top_values;
};

Batch random_batch(std::mt19937_64& rng, int32_t vocab, int32_t rows) {
  Batch b;
  b.rows = rows;
  b.vocab = vocab;
  b.top_n = static_cast<int32_t>(rng() % static_cast<uint64_t>(std::min(vocab, 6) + 1));
  b.step = rng() % 100;
  b.offsets.push_back(0);
  const float temps[] = {0.0f, 1e-6f, 0.7f, 1.0f, 1.5f};
  const float top_ps[] = {1.0f, 0.9f, 0.5f, 0.2f};
  const float min_ps[] = {0.0f, 0.05f, 0.3f};
  for (int32_t r = 0; r < rows; ++r) {
    const bool ties = rng() % 3 == 0;  // few distinct values: ties at every cut
    std::normal_distribution<float> nd(0.0f, 3.0f);
    for (int32_t i = 0; i < vocab; ++i) {
      float x = ties ? static_cast<float>(rng() % 4) : nd(rng);
      if (rng() % 50 == 0) x = std::numeric_limits<float>::quiet_NaN();
      if (rng() % 40 == 0) x = -std::numeric_limits<float>::infinity();
      b.logits.push_back(x);
    }
    b.temperature.push_back(temps[rng() % 5]);
    b.top_k.push_back(rng() % 3 == 0 ? 0 : static_cast<int32_t>(rng() % (vocab + 1)));
    b.top_p.push_back(top_ps[rng() % 4]);
    b.min_p.push_back(min_ps[rng() % 3]);
    b.repetition.push_back(rng() % 2 ? 1.0f : 1.3f);
    b.presence.push_back(rng() % 2 ? 0.0f : 0.5f);
    b.frequency.push_back(rng() % 2 ? 0.0f : 0.25f);
    const int prompt = static_cast<int>(rng() % 5), output = static_cast<int>(rng() % 5);
    for (int i = 0; i < prompt + output; ++i) {
      b.history.push_back(static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab)));
    }
    b.offsets.push_back(static_cast<int32_t>(b.history.size()));
    b.prompt_lens.push_back(prompt);
    b.seeds.push_back(rng());
  }
  return b;
}

Result run_cpu(Plugin& p, const Batch& b) {
  tsr_sample_params s{};
  s.struct_size = sizeof s;
  const int64_t rows = b.rows;
  s.logits = p.upload(b.logits, TSR_DTYPE_F32, {rows, b.vocab});
  s.temperature = p.upload(b.temperature, TSR_DTYPE_F32, {rows});
  s.top_k = p.upload(b.top_k, TSR_DTYPE_I32, {rows});
  s.top_p = p.upload(b.top_p, TSR_DTYPE_F32, {rows});
  s.min_p = p.upload(b.min_p, TSR_DTYPE_F32, {rows});
  s.repetition_penalty = p.upload(b.repetition, TSR_DTYPE_F32, {rows});
  s.presence_penalty = p.upload(b.presence, TSR_DTYPE_F32, {rows});
  s.frequency_penalty = p.upload(b.frequency, TSR_DTYPE_F32, {rows});
  s.seeds = p.upload(b.seeds, TSR_DTYPE_U64, {rows});
  s.step = b.step;
  std::vector<int32_t> history = b.history;
  if (history.empty()) history.push_back(0);  // a zero-size upload has no buffer
  s.history_tokens = p.upload(history.data(), history.size() * 4, TSR_DTYPE_I32,
                              {static_cast<int64_t>(b.history.size())});
  s.history_offsets = p.upload(b.offsets, TSR_DTYPE_I32, {rows + 1});
  s.history_prompt_lens = p.upload(b.prompt_lens, TSR_DTYPE_I32, {rows});
  s.out_tokens = p.empty(TSR_DTYPE_I32, {rows});
  s.out_logprobs = p.empty(TSR_DTYPE_F32, {rows});
  s.num_top_logprobs = b.top_n;
  if (b.top_n > 0) {
    s.top_ids = p.empty(TSR_DTYPE_I32, {rows, b.top_n});
    s.top_values = p.empty(TSR_DTYPE_F32, {rows, b.top_n});
  }
  const Status st = take(p.ops().sample(p.stream(), &s));
  EXPECT_TRUE(st.ok()) << st.message;
  Result r;
  r.tokens = p.download<int32_t>(s.out_tokens, static_cast<size_t>(rows));
  r.logprobs = p.download<float>(s.out_logprobs, static_cast<size_t>(rows));
  if (b.top_n > 0) {
    r.top_ids = p.download<int32_t>(s.top_ids, static_cast<size_t>(rows * b.top_n));
    r.top_values = p.download<float>(s.top_values, static_cast<size_t>(rows * b.top_n));
  }
  return r;
}

Result run_emulated(const Batch& b, int32_t slots) {
  Result r;
  r.tokens.assign(static_cast<size_t>(b.rows), -7);
  r.logprobs.assign(static_cast<size_t>(b.rows), -7.0f);
  r.top_ids.assign(static_cast<size_t>(b.rows * b.top_n), -7);
  r.top_values.assign(static_cast<size_t>(b.rows * b.top_n), -7.0f);
  cuda::SampleArgs a;
  a.logits = b.logits.data();
  a.rows = b.rows;
  a.vocab = b.vocab;
  a.temperature = b.temperature.data();
  a.top_k = b.top_k.data();
  a.top_p = b.top_p.data();
  a.min_p = b.min_p.data();
  a.repetition = b.repetition.data();
  a.presence = b.presence.data();
  a.frequency = b.frequency.data();
  a.seeds = b.seeds.data();
  a.step = b.step;
  a.history = b.history.data();
  a.history_len = static_cast<int64_t>(b.history.size());
  a.offsets = b.offsets.data();
  a.prompt_lens = b.prompt_lens.data();
  a.out_tokens = r.tokens.data();
  a.out_logprobs = r.logprobs.data();
  a.num_top = b.top_n;
  a.top_ids = b.top_n > 0 ? r.top_ids.data() : nullptr;
  a.top_values = b.top_n > 0 ? r.top_values.data() : nullptr;
  a.slots = slots;
  std::vector<double> workspace(cuda::sample_workspace_bytes(slots, b.vocab) / 8 + 1);
  a.workspace = workspace.data();
  const std::vector<float> logits_before = b.logits;
  EXPECT_EQ(cuda::launch_sample(a, nullptr), cudaSuccess);
  expect_clean_emulation();
  // The input logits are never modified (NaN-aware comparison of the bits).
  EXPECT_EQ(std::memcmp(logits_before.data(), b.logits.data(), b.logits.size() * 4), 0);
  return r;
}

bool close(float got, float want) {
  if (std::isnan(want) || std::isnan(got)) return std::isnan(want) && std::isnan(got);
  return got == want || std::fabs(got - want) <= 1e-5f;
}

void compare(const Batch& b, const Result& cpu, const Result& gpu) {
  for (int32_t r = 0; r < b.rows; ++r) {
    SCOPED_TRACE(::testing::Message()
                 << "vocab " << b.vocab << " row " << r << " t " << b.temperature[r] << " k "
                 << b.top_k[r] << " p " << b.top_p[r] << " min_p " << b.min_p[r] << " top_n "
                 << b.top_n);
    EXPECT_EQ(gpu.tokens[r], cpu.tokens[r]);
    EXPECT_TRUE(close(gpu.logprobs[r], cpu.logprobs[r]))
        << gpu.logprobs[r] << " vs " << cpu.logprobs[r];
    for (int32_t n = 0; n < b.top_n; ++n) {
      const size_t i = static_cast<size_t>(r * b.top_n + n);
      EXPECT_EQ(gpu.top_ids[i], cpu.top_ids[i]) << "top " << n;
      EXPECT_TRUE(close(gpu.top_values[i], cpu.top_values[i]))
          << "top " << n << ": " << gpu.top_values[i] << " vs " << cpu.top_values[i];
    }
  }
}

TEST(EmulatedSample, MatchesCpuPluginOnRandomBatches) {
  Plugin cpu;
  std::mt19937_64 rng(7);
  const int32_t vocabs[] = {1, 2, 3, 5, 7, 33, 1000, 2500};
  for (int iter = 0; iter < 16; ++iter) {
    const int32_t vocab = vocabs[iter % 8];
    const Batch b = random_batch(rng, vocab, 1 + static_cast<int32_t>(rng() % 3));
    compare(b, run_cpu(cpu, b), run_emulated(b, b.rows));
  }
}

// Fewer row slots than rows: a thread block serves several rows one after the other, reusing
// its workspace slot.
TEST(EmulatedSample, RowSlotsAreReused) {
  Plugin cpu;
  std::mt19937_64 rng(11);
  const Batch b = random_batch(rng, 300, 5);
  compare(b, run_cpu(cpu, b), run_emulated(b, 2));
}

// Top-k and top-p cuts landing inside a run of tied logits, with a draw at every position of
// the row (different seeds).
TEST(EmulatedSample, CutsInsideTies) {
  Plugin cpu;
  Batch b;
  b.rows = 4;
  b.vocab = 40;
  b.top_n = 5;
  b.step = 3;
  b.offsets = {0, 0, 0, 0, 0};
  for (int32_t r = 0; r < b.rows; ++r) {
    for (int32_t i = 0; i < b.vocab; ++i) b.logits.push_back(static_cast<float>(i % 3));
    b.temperature.push_back(1.0f);
    b.top_k.push_back(r == 0 ? 5 : (r == 1 ? 0 : 17));
    b.top_p.push_back(r == 1 ? 0.37f : (r == 3 ? 0.5f : 1.0f));
    b.min_p.push_back(0.0f);
    b.repetition.push_back(1.0f);
    b.presence.push_back(0.0f);
    b.frequency.push_back(0.0f);
    b.prompt_lens.push_back(0);
    b.seeds.push_back(1000 + static_cast<uint64_t>(r));
  }
  for (uint64_t step = 0; step < 3; ++step) {
    b.step = step;
    compare(b, run_cpu(cpu, b), run_emulated(b, b.rows));
  }
}

// The same batches with warps and lanes scheduled in reverse order: a barrier that only
// orders a later warp's writes before an earlier warp's reads shows up here.
TEST(EmulatedSample, ReversedScheduleGivesTheSameTokens) {
  Plugin cpu;
  std::mt19937_64 rng(7);
  tsr::emu::set_schedule_reversed(true);
  const int32_t vocabs[] = {3, 33, 1000, 2500};
  for (int iter = 0; iter < 8; ++iter) {
    const int32_t vocab = vocabs[iter % 4];
    const Batch b = random_batch(rng, vocab, 1 + static_cast<int32_t>(rng() % 3));
    compare(b, run_cpu(cpu, b), run_emulated(b, iter % 2 == 0 ? b.rows : 1));
  }
  tsr::emu::set_schedule_reversed(false);
}

}  // namespace
}  // namespace tsr::test
