// The serving core must never change a request's output: greedy continuations of the same
// prompts are identical when run (a) alone, (b) in a batch of 32 mixed lengths, (c) with a
// KV cache so small that swapping is forced, (d) with recompute forced, (e) with prefix-cache
// hits, (f) with chunk budgets of 1, 7 and 64 tokens — on the tiny models, CPU plugin. Also
// checks that every block is free at the end, that aborts free their blocks, that seeded
// sampling is reproducible across batch compositions, and admission errors.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "common/check.h"
#include "tessera/metrics.h"
#include "tessera/engine.h"
#include "tessera/plugins.h"
#include "tessera/device_spec.h"
#include "tessera/tokenizer.h"

namespace {

using namespace tessera;

// TESSERA_TINY_MODELS_DIR moves the build-time tiny models (a build copied elsewhere).
const std::string kModels = [] {
  const char* dir = std::getenv("TESSERA_TINY_MODELS_DIR");
  return std::string(dir != nullptr && *dir != 0 ? dir : TESSERA_TINY_MODELS_DIR);
}();

struct Prompt {
  std::vector<int32_t> ids;
  int max_tokens;
};

// 32 prompts of mixed lengths; several share a 40-token prefix (prefix-cache hits).
std::vector<Prompt> make_prompts(int vocab) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> token(100, vocab - 1);
  std::vector<int32_t> shared(40);
  for (auto& t : shared) t = token(rng);
  std::vector<Prompt> prompts;
  for (int i = 0; i < 32; ++i) {
    Prompt p;
    if (i % 4 == 0) p.ids = shared;
    const int extra = 1 + (i * 37) % 90;
    for (int j = 0; j < extra; ++j) p.ids.push_back(token(rng));
    p.max_tokens = 4 + i % 9;
    prompts.push_back(std::move(p));
  }
  return prompts;
}

EngineConfig base_config(const std::string& model) {
  EngineConfig c;
  c.model = kModels + "/" + model;
  c.device = "cpu";
  c.dtype = "float32";
  c.max_model_len = 256;
  c.max_num_batched_tokens = 256;
  c.max_num_seqs = 32;
  c.kv_cache_memory_bytes = 64ull << 20;
  c.swap_space_gib = 0.05;
  c.plugin_options["cpu.graphs"] = "1";  // decode graphs, as on a GPU (see the eager variant)
  return c;
}

// Runs `prompts` (all at once, or one by one) and returns each one's generated ids.
std::vector<std::vector<int32_t>> run(Engine& engine, const std::vector<Prompt>& prompts,
                                      bool one_by_one, const std::string& tag) {
  std::vector<std::vector<int32_t>> outputs(prompts.size());
  SamplingParams params;
  params.temperature = 0;
  params.ignore_eos = true;
  auto drain = [&](size_t i, OutputChannel& channel) {
    while (auto out = channel.next()) {
      outputs[i].insert(outputs[i].end(), out->token_ids.begin(), out->token_ids.end());
      if (out->finished) {
        EXPECT_EQ(out->finish_reason, FinishReason::kLength)
            << tag << " request " << i << ": " << out->error;
      }
    }
  };
  if (one_by_one) {
    for (size_t i = 0; i < prompts.size(); ++i) {
      params.max_tokens = prompts[i].max_tokens;
      auto channel = engine.add_request(tag + std::to_string(i), prompts[i].ids, params);
      while (engine.has_unfinished()) engine.step();
      drain(i, *channel);
    }
  } else {
    std::vector<std::shared_ptr<OutputChannel>> channels;
    for (size_t i = 0; i < prompts.size(); ++i) {
      params.max_tokens = prompts[i].max_tokens;
      channels.push_back(engine.add_request(tag + std::to_string(i), prompts[i].ids, params));
    }
    int steps = 0;
    while (engine.has_unfinished() && steps++ < 100000) engine.step();
    for (size_t i = 0; i < prompts.size(); ++i) drain(i, *channels[i]);
  }
  EXPECT_EQ(engine.blocks_in_use(), 0) << tag << ": blocks left in use";
  return outputs;
}

class EngineConsistency : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const char* path = std::getenv("TESSERA_PLUGIN_PATH");
    if (path == nullptr) GTEST_SKIP() << "TESSERA_PLUGIN_PATH not set (run through ctest)";
  }
};

TEST_P(EngineConsistency, GreedyOutputsNeverDependOnScheduling) {
  auto config = base_config(GetParam());
  auto alone_engine = Engine::create(config);
  const auto prompts = make_prompts(alone_engine->tokenizer().vocab_size());
  const auto alone = run(*alone_engine, prompts, true, "alone-");
  for (const auto& out : alone) ASSERT_FALSE(out.empty());
  alone_engine.reset();

  struct Variant {
    std::string name;
    EngineConfig config;
  };
  std::vector<Variant> variants;
  variants.push_back({"batch32", config});
  {
    auto c = config;  // decode steps run eagerly instead of as (padded) graphs
    c.enforce_eager = true;
    variants.push_back({"eager", c});
  }
  {
    auto c = config;
    c.enable_prefix_caching = false;
    variants.push_back({"no-prefix-cache", c});
  }
  {
    auto c = config;  // room for about two full contexts: preemption by swapping is forced
    c.num_gpu_blocks_override = 40;
    c.preemption_mode = "swap";
    variants.push_back({"swap", c});
  }
  {
    auto c = config;
    c.num_gpu_blocks_override = 40;
    c.preemption_mode = "recompute";
    variants.push_back({"recompute", c});
  }
  for (int chunk : {1, 7, 64}) {
    auto c = config;
    c.max_num_batched_tokens = chunk;
    variants.push_back({"chunk" + std::to_string(chunk), c});
  }
  for (const auto& v : variants) {
    SCOPED_TRACE(v.name);
    auto engine = Engine::create(v.config);
    const auto batched = run(*engine, prompts, false, v.name + "-");
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(batched[i], alone[i]) << v.name << ": prompt " << i;
    }
    const auto m = engine->metrics();
    if (v.name == "swap") {
      EXPECT_GT(m.preemptions_swap, 0u);
    }
    if (v.name == "recompute") {
      EXPECT_GT(m.preemptions_recompute, 0u);
    }
    if (v.name == "batch32") {
      EXPECT_GT(m.prefix_cache_hits, 0u);
    }
    if (v.name == "no-prefix-cache") {
      EXPECT_EQ(m.prefix_cache_hits, 0u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(TinyModels, EngineConsistency, ::testing::Values("qwen3", "llama2"));

class EngineBehaviour : public EngineConsistency {};

TEST_F(EngineBehaviour, SeededSamplingIsReproducibleAcrossBatches) {
  auto engine = Engine::create(base_config("llama3"));
  const auto prompts = make_prompts(engine->tokenizer().vocab_size());
  SamplingParams params;
  params.temperature = 0.9f;
  params.top_p = 0.9f;
  params.seed = 1234;
  params.max_tokens = 12;
  params.ignore_eos = true;
  auto collect = [&](OutputChannel& channel) {
    std::vector<int32_t> ids;
    while (auto out = channel.next())
      ids.insert(ids.end(), out->token_ids.begin(), out->token_ids.end());
    return ids;
  };
  auto alone = engine->add_request("alone", prompts[3].ids, params);
  while (engine->has_unfinished()) engine->step();
  const auto first = collect(*alone);
  std::vector<std::shared_ptr<OutputChannel>> noise;
  SamplingParams other = params;
  other.seed.reset();
  for (int i = 0; i < 8; ++i)
    noise.push_back(engine->add_request("n" + std::to_string(i), prompts[i].ids, other));
  auto again = engine->add_request("again", prompts[3].ids, params);
  while (engine->has_unfinished()) engine->step();
  EXPECT_EQ(collect(*again), first);
  EXPECT_EQ(first.size(), 12u);
}

TEST_F(EngineBehaviour, AbortFreesBlocksAndEndsTheStream) {
  auto engine = Engine::create(base_config("qwen3"));
  const auto prompts = make_prompts(engine->tokenizer().vocab_size());
  SamplingParams params;
  params.temperature = 0;
  params.max_tokens = 50;
  params.ignore_eos = true;
  auto a = engine->add_request("a", prompts[1].ids, params);
  auto b = engine->add_request("b", prompts[2].ids, params);
  engine->step();
  engine->step();
  engine->abort("a");
  while (engine->has_unfinished()) engine->step();
  FinishReason reason = FinishReason::kNone;
  while (auto out = a->next()) reason = out->finish_reason;
  EXPECT_EQ(reason, FinishReason::kAbort);
  int tokens = 0;
  while (auto out = b->next()) tokens += static_cast<int>(out->token_ids.size());
  EXPECT_EQ(tokens, 50);
  EXPECT_EQ(engine->blocks_in_use(), 0);
  EXPECT_EQ(engine->metrics().requests_aborted, 1u);
}

TEST_F(EngineBehaviour, StopStringsAndStopTokens) {
  auto engine = Engine::create(base_config("llama2"));
  const auto& tok = engine->tokenizer();
  const auto prompt = tok.encode("Once upon a time");
  SamplingParams params;
  params.temperature = 0;
  params.max_tokens = 20;
  params.ignore_eos = true;
  auto full = engine->add_request("full", prompt, params);
  while (engine->has_unfinished()) engine->step();
  std::string text;
  std::vector<int32_t> ids;
  while (auto out = full->next()) {
    text += out->text;
    ids.insert(ids.end(), out->token_ids.begin(), out->token_ids.end());
  }
  ASSERT_EQ(ids.size(), 20u);
  // A stop token id ends the request at that token.
  params.stop_token_ids = {ids[5]};
  auto stopped = engine->add_request("stop-id", prompt, params);
  while (engine->has_unfinished()) engine->step();
  RequestOutput last;
  int count = 0;
  while (auto out = stopped->next()) {
    count += static_cast<int>(out->token_ids.size());
    last = *out;
  }
  EXPECT_EQ(last.finish_reason, FinishReason::kStop);
  EXPECT_LE(count, 6);
  // A stop string cuts the text before it.
  if (text.size() > 6) {
    params.stop_token_ids.clear();
    params.stop = {text.substr(text.size() / 2, 3)};
    auto cut = engine->add_request("stop-str", prompt, params);
    while (engine->has_unfinished()) engine->step();
    std::string cut_text;
    FinishReason reason = FinishReason::kNone;
    while (auto out = cut->next()) {
      cut_text += out->text;
      reason = out->finish_reason;
    }
    EXPECT_EQ(reason, FinishReason::kStop);
    EXPECT_EQ(cut_text, text.substr(0, text.find(params.stop[0])));
  }
}

TEST_F(EngineBehaviour, RequestsThatCanNeverFitAreRejectedAtAdmission) {
  auto config = base_config("qwen3");
  auto engine = Engine::create(config);
  SamplingParams params;
  params.max_tokens = 300;  // beyond max_model_len 256
  try {
    engine->add_request("long", {1, 2, 3}, params);
    FAIL() << "expected an admission error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("maximum context length"), std::string::npos) << e.what();
  }
  params.max_tokens = 5;
  EXPECT_THROW(engine->add_request("empty", {}, params), Error);
  EXPECT_THROW(engine->add_request("oov", {-1}, params), Error);
  params.temperature = -1;
  EXPECT_THROW(engine->add_request("temp", {1}, params), Error);
  EXPECT_FALSE(engine->has_unfinished());
}

TEST_F(EngineBehaviour, ImpossibleMemoryConfigFailsFastNamingTheFlag) {
  auto config = base_config("qwen3");
  config.kv_cache_memory_bytes = 1024;
  try {
    Engine::create(config);
    FAIL() << "expected a memory error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--kv-cache-memory"), std::string::npos) << e.what();
  }
}

// On a GPU run (TESSERA_TEST_DEVICE=cuda, scripts/gpu-check.sh): the device's greedy outputs,
// batched, equal the CPU plugin's for every tiny family, in f32.
TEST_F(EngineBehaviour, GreedyOutputsMatchTheCpuPlugin) {
  const char* other = std::getenv("TESSERA_TEST_DEVICE");
  if (other == nullptr || std::string(other).empty() || std::string(other).rfind("cpu", 0) == 0) {
    GTEST_SKIP() << "set TESSERA_TEST_DEVICE to a non-CPU device to compare with the CPU plugin";
  }
  {
    const auto registry = runtime::PluginRegistry::discover(runtime::LoaderOptions{});
    const DeviceSpec spec = parse_device_spec(other);
    bool found = false;
    for (const auto& plugin : registry->plugins()) {
      found |= plugin->name() == spec.plugin && !plugin->devices().empty();
    }
    if (!found) GTEST_SKIP() << "no " << other << " device here";
  }
  for (const std::string family : {"qwen3", "llama3", "llama2", "mistral", "qwen2"}) {
    SCOPED_TRACE(family);
    auto cpu_config = base_config(family);
    auto cpu = Engine::create(cpu_config);
    const auto prompts = make_prompts(cpu->tokenizer().vocab_size());
    const auto expected = run(*cpu, prompts, false, "cpu-");
    cpu.reset();
    auto device_config = base_config(family);
    device_config.device = other;
    device_config.kv_cache_memory_bytes.reset();
    device_config.gpu_memory_utilization = 0.5;
    auto device = Engine::create(device_config);
    const auto got = run(*device, prompts, false, std::string(other) + "-");
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(got[i], expected[i]) << other << " vs cpu: prompt " << i;
    }
  }
}

}  // namespace
