// Tensor parallelism on the CPU plugin, ranks in one process (cpu.devices=N core groups, one
// thread each, joined by the plugin's thread collectives), on every tiny model family (4
// query heads, 2 KV heads): TP 2 splits the KV heads, TP 4 replicates them.
//
// Logits bound: TP N computes the same dot products as TP 1 except that the row-parallel
// o_proj and down_proj sum N partial dot products (each over K / N inputs) in the
// all-reduce instead of one GEMM's accumulation over K: only the order of f32 additions
// changes. Each such sum has a forward error of at most ~K u sum|a_i b_i| (u = 2^-24, K <= 128
// here, so <= 7.7e-6 of the magnitude of its terms, typically sqrt(K) u ~ 7e-7), and RMSNorm
// rescales rather than amplifies it over the 2 layers. Hence the norm-wise bound
// max|logits_N - logits_1| <= 1e-5 max|logits_1| (per row; a single logit near 0 has no
// meaningful relative error). Greedy tokens must then be identical.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "common/check.h"
#include "tessera/metrics.h"
#include "engine/model_runner.h"
#include "engine/model_weights.h"
#include "runtime/device_selector.h"
#include "tessera/device_spec.h"
#include "tessera/engine.h"
#include "tessera/tokenizer.h"

namespace {

using namespace tessera;

const std::string kModels = [] {
  const char* dir = std::getenv("TESSERA_TINY_MODELS_DIR");
  return std::string(dir != nullptr && *dir != 0 ? dir : TESSERA_TINY_MODELS_DIR);
}();

constexpr int kMaxRanks = 4;
constexpr double kLogitsBound = 1e-5;

class TensorParallel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    runtime::LoaderOptions loader;
    loader.plugin_options["cpu.devices"] = std::to_string(kMaxRanks);
    loader.plugin_options["cpu.num_threads"] = "1";
    registry_ = runtime::PluginRegistry::discover(loader).release();
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }
  void SetUp() override {
    if (std::getenv("TESSERA_PLUGIN_PATH") == nullptr || registry_->find("cpu") == nullptr) {
      GTEST_SKIP() << "no cpu plugin (TESSERA_PLUGIN_PATH; run through ctest)";
    }
  }

  // One runner over `tp` CPU ranks, each with its shard of `model`.
  struct Ranks {
    std::vector<std::shared_ptr<runtime::Device>> devices;
    std::vector<std::unique_ptr<engine::ModelWeights>> weights;
    std::unique_ptr<engine::ModelRunner> runner;
  };
  static Ranks load(const std::string& model, int tp, tsr_dtype dtype = TSR_DTYPE_F32) {
    Ranks r;
    const auto choices = runtime::select_devices(*registry_, parse_device_spec("cpu"), tp);
    std::vector<const engine::ModelWeights*> views;
    for (int rank = 0; rank < tp; ++rank) {
      r.devices.push_back(runtime::Device::open(*choices[static_cast<size_t>(rank)].plugin,
                                                choices[static_cast<size_t>(rank)].index));
      engine::LoadOptions options;
      options.activation_dtype = dtype;
      options.shard = {rank, tp};
      r.weights.push_back(engine::ModelWeights::load(model, r.devices.back(), options));
      views.push_back(r.weights.back().get());
    }
    engine::RunnerOptions options;
    options.max_num_tokens = 64;
    options.max_num_seqs = 64;
    options.block_size = 16;
    options.max_blocks_per_seq = 4;
    options.kv_dtype = dtype;
    r.runner = std::make_unique<engine::ModelRunner>(r.devices, views, options);
    r.runner->allocate_kv_cache(16);
    return r;
  }

  static runtime::PluginRegistry* registry_;
};

runtime::PluginRegistry* TensorParallel::registry_ = nullptr;

// Two sequences prefilled together (every position's logits), then greedy decode steps of
// both; returns every logits row and the generated ids.
struct Trace {
  std::vector<std::vector<float>> rows;
  std::vector<int32_t> tokens;
};

Trace run_trace(engine::ModelRunner& runner, int64_t vocab, int steps) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> token(
      3, static_cast<int32_t>(std::min<int64_t>(vocab, 30000)) - 1);
  std::vector<std::vector<int32_t>> seqs(2);
  for (int i = 0; i < 21; ++i) seqs[0].push_back(token(rng));
  for (int i = 0; i < 7; ++i) seqs[1].push_back(token(rng));
  const std::vector<std::vector<int32_t>> tables = {{3, 0, 5, 9}, {1, 7, 2, 12}};
  Trace trace;
  std::vector<size_t> computed = {0, 0};
  for (int step = 0; step <= steps; ++step) {
    engine::ForwardBatch batch;
    batch.query_start_loc.push_back(0);
    batch.max_blocks_per_seq = 4;
    for (size_t s = 0; s < seqs.size(); ++s) {
      for (size_t pos = computed[s]; pos < seqs[s].size(); ++pos) {
        batch.input_ids.push_back(seqs[s][pos]);
        batch.positions.push_back(static_cast<int32_t>(pos));
        batch.slot_mapping.push_back(int64_t{tables[s][pos / 16]} * 16 +
                                     static_cast<int64_t>(pos % 16));
        // The prefill step keeps every row; decode steps have one row per sequence anyway.
        batch.logits_indices.push_back(batch.num_tokens() - 1);
      }
      batch.query_start_loc.push_back(batch.num_tokens());
      batch.seq_lens.push_back(static_cast<int32_t>(seqs[s].size()));
      batch.block_tables.insert(batch.block_tables.end(), tables[s].begin(), tables[s].end());
      computed[s] = seqs[s].size();
    }
    runner.forward(batch);
    const auto logits = runner.logits_to_host();
    const auto rows = batch.logits_indices.size();
    for (size_t r = 0; r < rows; ++r) {
      trace.rows.emplace_back(logits.begin() + static_cast<std::ptrdiff_t>(r * vocab),
                              logits.begin() + static_cast<std::ptrdiff_t>((r + 1) * vocab));
    }
    // Greedy continuation of each sequence from its last row.
    size_t last = 0;
    for (size_t s = 0; s < seqs.size(); ++s) {
      last += static_cast<size_t>(batch.query_start_loc[s + 1] - batch.query_start_loc[s]);
      const auto& row = trace.rows[trace.rows.size() - rows + last - 1];
      const auto best =
          static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
      seqs[s].push_back(best);
      trace.tokens.push_back(best);
    }
  }
  return trace;
}

// max over rows of max|a - b| / max|b|.
double normwise_error(const Trace& got, const Trace& want) {
  double worst = 0;
  for (size_t r = 0; r < want.rows.size(); ++r) {
    double diff = 0;
    double scale = 0;
    for (size_t i = 0; i < want.rows[r].size(); ++i) {
      diff = std::max(diff, std::abs(double(got.rows[r][i]) - want.rows[r][i]));
      scale = std::max(scale, std::abs(double(want.rows[r][i])));
    }
    worst = std::max(worst, diff / std::max(scale, 1e-30));
  }
  return worst;
}

TEST_F(TensorParallel, LogitsAndGreedyTokensEqualOneRankOnEveryFamily) {
  // gemma3: post-norms after the all-reduced o_proj and down_proj, a scaled split embedding.
  for (const std::string family : {"qwen3", "llama3", "llama2", "mistral", "qwen2", "gemma3"}) {
    SCOPED_TRACE(family);
    const std::string model = kModels + "/" + family;
    auto one = load(model, 1);
    const auto vocab = one.weights[0]->config().vocab_size;
    const Trace want = run_trace(*one.runner, vocab, 6);
    for (int tp : {2, 4}) {
      SCOPED_TRACE("tensor parallel size " + std::to_string(tp));
      auto ranks = load(model, tp);
      // Each rank holds its share of the heads (KV heads replicated at 4 > 2).
      const auto& layout = ranks.weights[1]->layout();
      EXPECT_EQ(layout.q_heads, 4 / tp);
      EXPECT_EQ(layout.kv_heads, tp == 2 ? 1 : 1);
      EXPECT_EQ(layout.kv_head_begin, tp == 2 ? 1 : 0);
      EXPECT_LT(ranks.weights[1]->device_bytes(), one.weights[0]->device_bytes());
      const Trace got = run_trace(*ranks.runner, vocab, 6);
      ASSERT_EQ(got.rows.size(), want.rows.size());
      const double error = normwise_error(got, want);
      EXPECT_LE(error, kLogitsBound);
      EXPECT_EQ(got.tokens, want.tokens);
      const auto timing = ranks.runner->collective_timing();
      EXPECT_EQ(timing.forwards, 7u);
      EXPECT_EQ(timing.decode_forwards, 6u);
      EXPECT_GT(timing.collective_seconds, 0.0);
      EXPECT_LE(timing.collective_seconds, timing.forward_seconds);
      std::printf("%s TP %d: norm-wise logits error %.3g\n", family.c_str(), tp, error);
    }
  }
}

// Phi-3's fused q/k/v and gate/up are loaded unsharded only: a clear refusal, not a crash.
TEST_F(TensorParallel, Phi3IsRefusedWithAReason) {
  try {
    load(kModels + "/phi3", 2);
    FAIL() << "phi3 loaded with tensor parallelism";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor parallelism"), std::string::npos) << e.what();
  }
}

TEST_F(TensorParallel, KvCacheIsSplitAmongRanks) {
  auto one = load(kModels + "/llama2", 1);
  auto two = load(kModels + "/llama2", 2);
  EXPECT_EQ(two.runner->kv_block_bytes_all_layers() * 2, one.runner->kv_block_bytes_all_layers());
  EXPECT_EQ(two.runner->tensor_parallel_size(), 2);
}

// Q8_0 groups of 32: o_proj of the llama2 tiny model has 64 input columns, 32 per rank at TP
// 2 (whole groups) and 16 at TP 4 (half a group: refused, naming the weight and the group).
TEST_F(TensorParallel, QuantizedShardsHoldWholeGroupsOrAreRefused) {
  const std::string model = kModels + "/llama2-q8_0.gguf";
  auto one = load(model, 1);
  auto two = load(model, 2);
  const auto vocab = one.weights[0]->config().vocab_size;
  const Trace want = run_trace(*one.runner, vocab, 4);
  const Trace got = run_trace(*two.runner, vocab, 4);
  // The weights are the same int8 values split on group boundaries; what can differ is the
  // order of additions (as in f32) and, in the plugin's int8 path, the per-row activation
  // scale taken over K / 2 inputs instead of K; 1e-2 is the tiny-model int8 bound of
  // model_forward_test against its float64 reference.
  EXPECT_LE(normwise_error(got, want), 1e-2);
  try {
    load(model, 4);
    FAIL() << "expected TP 4 to be refused";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("quantization groups of 32"), std::string::npos) << what;
    EXPECT_NE(what.find("--tensor-parallel-size"), std::string::npos) << what;
  }
}

// max over rows of ||a - b|| / ||b|| (model_forward_test's measure against float64).
double l2_error(const Trace& got, const Trace& want) {
  double worst = 0;
  for (size_t r = 0; r < want.rows.size(); ++r) {
    double num = 0;
    double den = 0;
    for (size_t i = 0; i < want.rows[r].size(); ++i) {
      const double d = double(got.rows[r][i]) - want.rows[r][i];
      num += d * d;
      den += double(want.rows[r][i]) * want.rows[r][i];
    }
    worst = std::max(worst, std::sqrt(num / std::max(den, 1e-30)));
  }
  return worst;
}

// bf16 activations and Q4_0 weights: TP 1 and TP 2 each lie within model_forward_test's
// bound of the float64 reference (bf16: 5e-2, Q4_0: 3.5e-1, relative L2 per row), so by the
// triangle inequality within twice that of each other. (Their greedy tokens may differ: in
// bf16 the all-reduce rounds the partial sums' total once more.)
TEST_F(TensorParallel, Bf16AndInt4StayWithinTheBoundsTheyAlreadyUse) {
  struct Case {
    std::string model;
    tsr_dtype dtype;
    double bound;
  };
  for (const Case& c :
       {Case{"llama3", TSR_DTYPE_BF16, 2 * 5e-2}, Case{"qwen3", TSR_DTYPE_BF16, 2 * 5e-2},
        Case{"llama2-q4_0.gguf", TSR_DTYPE_F32, 2 * 3.5e-1}}) {
    SCOPED_TRACE(c.model);
    auto one = load(kModels + "/" + c.model, 1, c.dtype);
    auto two = load(kModels + "/" + c.model, 2, c.dtype);
    const auto vocab = one.weights[0]->config().vocab_size;
    // Prefill rows only (steps 0): the decode inputs would follow each run's own tokens.
    const Trace want = run_trace(*one.runner, vocab, 0);
    const Trace got = run_trace(*two.runner, vocab, 0);
    const double error = l2_error(got, want);
    EXPECT_LT(error, c.bound);
    std::printf("%s TP 2 vs TP 1: relative L2 logits difference %.3g\n", c.model.c_str(), error);
  }
}

TEST_F(TensorParallel, DeviceSelectionTakesConsecutiveOrNamedDevices) {
  auto indices = [&](const std::string& spec, int tp) {
    std::vector<int32_t> out;
    for (const auto& c : runtime::select_devices(*registry_, parse_device_spec(spec), tp)) {
      out.push_back(c.index);
    }
    return out;
  };
  EXPECT_EQ(indices("cpu", 2), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(indices("cpu", 4), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(indices("cpu:2", 2), (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(indices("cpu:3,1", 2), (std::vector<int32_t>{3, 1}));
  EXPECT_EQ(indices("auto", 2).size(), 2u);
  auto message = [&](const std::string& spec, int tp) {
    try {
      runtime::select_devices(*registry_, parse_device_spec(spec), tp);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("cpu:3", 2).find("needs 2 devices"), std::string::npos) << message("cpu:3", 2);
  EXPECT_NE(message("cpu", 5).find("it has 4"), std::string::npos) << message("cpu", 5);
  EXPECT_NE(message("cpu:0,1", 3).find("names 2 devices"), std::string::npos);
  EXPECT_THROW(parse_device_spec("cpu:1,1"), Error);
  EXPECT_THROW(parse_device_spec("cpu:1,"), Error);
  EXPECT_THROW(runtime::select_device(*registry_, parse_device_spec("cpu:0,1")), Error);
}

// --- the engine: greedy outputs with TP 2 equal TP 1 under swap, recompute, prefix caching
// and chunked prefill ---

EngineConfig engine_config(const std::string& family, int tp) {
  EngineConfig c;
  c.model = kModels + "/" + family;
  c.device = "cpu";
  c.dtype = "float32";
  c.max_model_len = 128;  // 8 blocks: every prompt (at most 110 tokens) and its output fit
  c.max_num_batched_tokens = 256;
  c.max_num_seqs = 16;
  c.kv_cache_memory_bytes = 32ull << 20;
  c.swap_space_gib = 0.05;
  c.tensor_parallel_size = tp;
  c.plugin_options["cpu.num_threads"] = "1";
  return c;
}

std::vector<std::vector<int32_t>> generate(Engine& engine, const std::string& tag) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> token(100, engine.tokenizer().vocab_size() - 1);
  std::vector<int32_t> shared(40);
  for (auto& t : shared) t = token(rng);
  std::vector<std::shared_ptr<OutputChannel>> channels;
  SamplingParams params;
  params.temperature = 0;
  params.ignore_eos = true;
  for (int i = 0; i < 12; ++i) {
    std::vector<int32_t> prompt = i % 3 == 0 ? shared : std::vector<int32_t>{};
    for (int j = 0; j < 1 + (i * 37) % 70; ++j) prompt.push_back(token(rng));
    params.max_tokens = 4 + i % 7;
    channels.push_back(engine.add_request(tag + std::to_string(i), prompt, params));
  }
  for (int steps = 0; engine.has_unfinished() && steps < 100000; ++steps) engine.step();
  std::vector<std::vector<int32_t>> outputs;
  for (auto& channel : channels) {
    outputs.emplace_back();
    while (auto out = channel->next()) {
      outputs.back().insert(outputs.back().end(), out->token_ids.begin(), out->token_ids.end());
    }
  }
  EXPECT_EQ(engine.blocks_in_use(), 0) << tag;
  return outputs;
}

TEST_F(TensorParallel, EngineOutputsEqualOneRankUnderPreemptionPrefixCachingAndChunking) {
  for (const std::string family : {"qwen3", "llama2"}) {
    SCOPED_TRACE(family);
    const auto want = generate(*Engine::create(engine_config(family, 1)), "tp1-");
    struct Variant {
      std::string name;
      EngineConfig config;
    };
    std::vector<Variant> variants;
    variants.push_back({"tp2", engine_config(family, 2)});
    {
      auto c = engine_config(family, 2);
      c.num_gpu_blocks_override = 14;  // a few contexts: preemption is forced
      c.preemption_mode = "swap";
      variants.push_back({"tp2-swap", c});
    }
    {
      auto c = engine_config(family, 2);
      c.num_gpu_blocks_override = 14;
      c.preemption_mode = "recompute";
      variants.push_back({"tp2-recompute", c});
    }
    {
      auto c = engine_config(family, 2);
      c.max_num_batched_tokens = 7;
      variants.push_back({"tp2-chunk7", c});
    }
    {
      auto c = engine_config(family, 4);
      c.enable_prefix_caching = false;
      variants.push_back({"tp4-no-prefix-cache", c});
    }
    for (const auto& v : variants) {
      SCOPED_TRACE(v.name);
      auto engine = Engine::create(v.config);
      EXPECT_EQ(engine->memory_plan().tensor_parallel_size, v.config.tensor_parallel_size);
      const auto got = generate(*engine, v.name + "-");
      EXPECT_EQ(got, want);
      const auto m = engine->metrics();
      if (v.name == "tp2-swap") {
        EXPECT_GT(m.preemptions_swap, 0u);
      }
      if (v.name == "tp2-recompute") {
        EXPECT_GT(m.preemptions_recompute, 0u);
      }
      if (v.name == "tp2") {
        EXPECT_GT(m.prefix_cache_hits, 0u);
      }
      EXPECT_GT(m.tp_decode_forwards, 0u);
    }
  }
}

TEST_F(TensorParallel, BadConfigsFailWithOneMessage) {
  auto message = [](const EngineConfig& config) {
    try {
      Engine::create(config);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // 4 attention heads do not divide among 3 ranks.
  const auto heads = message(engine_config("llama2", 3));
  EXPECT_NE(heads.find("--tensor-parallel-size 3"), std::string::npos) << heads;
  EXPECT_NE(heads.find("attention heads"), std::string::npos) << heads;
  // 8 ranks: 4 heads do not divide either (checked before any device is opened).
  EXPECT_NE(message(engine_config("llama2", 8)).find("attention heads"), std::string::npos);
  // More ranks than devices: the cpu plugin was told to make one.
  auto one_device = engine_config("llama2", 2);
  one_device.plugin_options["cpu.devices"] = "1";
  const auto devices = message(one_device);
  EXPECT_NE(devices.find("needs 2 devices"), std::string::npos) << devices;
  auto listed = engine_config("llama2", 2);
  listed.device = "cpu:0,1,2";
  EXPECT_NE(message(listed).find("names 3 devices"), std::string::npos) << message(listed);
}

}  // namespace

namespace {

// An op that fails on one rank only (the CPU plugin's fault injection counts linear calls
// over the whole process, so it hits one rank of a step) must not leave the other rank
// waiting in a collective: the step's requests fail with the error, the engine keeps
// serving, and no block is leaked. (A hang here ends in CTest's timeout, a failure too.)
TEST_F(TensorParallel, AnOpFailingOnOneRankFailsTheStepWithoutAHang) {
  auto config = engine_config("llama2", 2);
  config.plugin_options["cpu.fail_linear_every"] = "401";  // ~26 linear calls a step
  auto engine = Engine::create(config);
  SamplingParams params;
  params.temperature = 0;
  params.ignore_eos = true;
  params.max_tokens = 6;
  int failed = 0;
  int finished = 0;
  for (int round = 0; round < 10; ++round) {
    std::vector<std::shared_ptr<OutputChannel>> channels;
    for (int i = 0; i < 3; ++i) {
      channels.push_back(engine->add_request(fmt::format("r{}-{}", round, i),
                                             {5, 17, 300 + i, 42, 7 + round}, params));
    }
    for (int steps = 0; engine->has_unfinished() && steps < 10000; ++steps) engine->step();
    for (auto& channel : channels) {
      while (auto out = channel->next()) {
        if (out->finish_reason == FinishReason::kError) {
          ++failed;
          EXPECT_NE(out->error.find("injected fault"), std::string::npos) << out->error;
        }
        if (out->finish_reason == FinishReason::kLength) ++finished;
      }
    }
  }
  EXPECT_GT(failed, 0);
  EXPECT_GT(finished, 0);  // it kept serving
  EXPECT_EQ(engine->blocks_in_use(), 0);
}

// On a machine with two GPUs (scripts/gpu-check.sh sets TESSERA_TEST_DEVICE=cuda): the
// device's greedy outputs at TP 2 (NCCL between two GPUs) equal its own at TP 1, in f32.
TEST_F(TensorParallel, OnTheTestDeviceTwoRanksEqualOne) {
  const char* device = std::getenv("TESSERA_TEST_DEVICE");
  if (device == nullptr || std::string(device).empty() ||
      std::string(device).rfind("cpu", 0) == 0) {
    GTEST_SKIP() << "set TESSERA_TEST_DEVICE to a non-CPU device with two devices";
  }
  const auto registry = runtime::PluginRegistry::discover(runtime::LoaderOptions{});
  const auto* plugin = registry->find(parse_device_spec(device).plugin);
  if (plugin == nullptr || plugin->devices().size() < 2) {
    GTEST_SKIP() << "fewer than two " << device << " devices here";
  }
  for (const std::string family : {"qwen3", "llama3"}) {
    SCOPED_TRACE(family);
    auto config = engine_config(family, 1);
    config.device = device;
    config.kv_cache_memory_bytes.reset();
    config.gpu_memory_utilization = 0.3;
    const auto want = generate(*Engine::create(config), "one-");
    config.tensor_parallel_size = 2;
    EXPECT_EQ(generate(*Engine::create(config), "two-"), want);
  }
}

}  // namespace
