// The in-process benchmarks (tools/bench) on the tiny Qwen3 model with the CPU plugin:
// bandwidth kernels, latency runs, throughput runs (random and ShareGPT datasets, bounded
// concurrency, a KV cache small enough to force preemption). Results must be complete and
// consistent (positive rates, counts that add up, every KV block freed); speed is never
// asserted.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include <unistd.h>

#include "common/check.h"
#include "tessera/metrics.h"
#include "latency.h"
#include "memory_bandwidth.h"
#include "runtime/device.h"
#include "runtime/device_selector.h"
#include "tessera/engine.h"
#include "throughput.h"
#include "throughput_requests.h"
#include "tessera/tokenizer.h"

namespace {

using namespace tessera;

constexpr uint64_t kMiB = uint64_t{1} << 20;

EngineConfig tiny_config() {
  EngineConfig c;
  c.model = std::string(TESSERA_TINY_MODELS_DIR) + "/qwen3";
  c.device = "cpu";
  c.dtype = "float32";
  c.max_model_len = 256;
  c.max_num_batched_tokens = 256;
  c.kv_cache_memory_bytes = 32 * kMiB;
  c.swap_space_gib = 0.05;
  return c;
}

TEST(BenchBandwidth, HostKernelsReportEveryFigure) {
  const auto r = bench::measure_host_bandwidth(8 * kMiB, 2, 2);
  EXPECT_EQ(r.method, "host-stream");
  EXPECT_EQ(r.array_bytes, 8 * kMiB);
  EXPECT_EQ(r.threads, 2);
  EXPECT_EQ(r.repetitions, 2);
  EXPECT_GT(r.copy_gbps, 0);
  EXPECT_GT(r.triad_gbps, 0);
  EXPECT_GT(r.read_gbps, 0);
  EXPECT_EQ(r.roofline_gbps(), r.triad_gbps);
  const auto j = bench::to_json(r);
  for (const char* key : {"method", "copy_gbps", "triad_gbps", "read_gbps", "roofline_gbps"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
}

TEST(BenchBandwidth, BadSizesAreErrors) {
  EXPECT_THROW(bench::measure_host_bandwidth(1024, 1, 1), Error);
  EXPECT_THROW(bench::measure_host_bandwidth(8 * kMiB, 1, 0), Error);
}

TEST(BenchBandwidth, DefaultArrayIsLargerThanTheCache) {
  const uint64_t llc = bench::last_level_cache_bytes();
  const uint64_t bytes = bench::default_array_bytes();
  EXPECT_GE(bytes, 64 * kMiB);
  EXPECT_LE(bytes, 512 * kMiB);
  if (llc > 0 && llc <= 128 * kMiB) {
    EXPECT_GE(bytes, 4 * llc);
  }
}

// The GPU path (plugin d2d copy through the runtime wrappers), exercised on the CPU plugin,
// which implements the same buffer and stream calls.
TEST(BenchBandwidth, DeviceCopyThroughThePlugin) {
  auto registry = runtime::PluginRegistry::discover({});
  const auto choice = runtime::select_device(*registry, parse_device_spec("cpu"));
  const auto r = bench::measure_device_bandwidth(choice, 4 * kMiB, 2);
  EXPECT_EQ(r.method, "device-copy");
  EXPECT_EQ(r.device, choice.to_string());
  EXPECT_EQ(r.array_bytes, 4 * kMiB);
  EXPECT_GT(r.copy_gbps, 0);
  EXPECT_EQ(r.roofline_gbps(), r.copy_gbps);
}

TEST(BenchBandwidth, ForAnEngineConfigOnTheCpuMeasuresHostMemory) {
  const auto r = bench::measure_bandwidth_for(tiny_config(), 4 * kMiB, 1);
  EXPECT_EQ(r.method, "host-stream");
  EXPECT_GT(r.triad_gbps, 0);
}

TEST(BenchLatency, BatchOneAndBatchThree) {
  auto engine = Engine::create(tiny_config());
  bench::LatencyOptions o;
  o.input_len = 12;
  o.output_len = 5;
  o.batch_size = 3;
  o.num_iters = 2;
  o.num_iters_warmup = 1;
  bench::BandwidthResult bw;
  bw.method = "host-stream";
  bw.triad_gbps = 10;
  const auto r = bench::run_latency(*engine, o, bw);
  ASSERT_EQ(r.runs.size(), 2u);
  EXPECT_EQ(r.runs[0].batch_size, 1);
  EXPECT_EQ(r.runs[1].batch_size, 3);
  EXPECT_GT(r.weight_bytes_per_token, 0u);
  EXPECT_GT(r.kv_bytes_per_token, 0u);
  for (const auto& run : r.runs) {
    ASSERT_EQ(run.prefill_s.size(), 2u);
    ASSERT_EQ(run.decode_s.size(), 2u);
    ASSERT_EQ(run.total_s.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_GT(run.prefill_s[i], 0);
      EXPECT_GT(run.decode_s[i], 0);
      EXPECT_NEAR(run.prefill_s[i] + run.decode_s[i], run.total_s[i], 1e-9);
    }
    EXPECT_GT(run.prefill_tok_s, 0);
    EXPECT_GT(run.decode_tok_s, 0);
    EXPECT_GT(run.decode_ms_per_token, 0);
    // The roofline follows from the inputs alone.
    EXPECT_NEAR(run.roofline_tok_s,
                run.batch_size * 10e9 / static_cast<double>(r.weight_bytes_per_token),
                1e-6 * run.roofline_tok_s);
    EXPECT_NEAR(run.roofline_fraction, run.decode_tok_s / run.roofline_tok_s, 1e-9);
    EXPECT_GT(run.roofline_with_kv_tok_s, 0);
    EXPECT_LT(run.roofline_with_kv_tok_s, run.roofline_tok_s);
    // The step overhead is the decode step time beyond its bytes at the bandwidth.
    EXPECT_NEAR(run.step_overhead_ms,
                run.decode_ms_per_token - 1e3 * run.batch_size / run.roofline_with_kv_tok_s,
                1e-9 * run.decode_ms_per_token);
  }
  // The tiny Qwen3 (config.json): hidden 64, intermediate 128, 2 layers, 4 query and 2 KV
  // heads of 32, vocabulary 151680 with the LM head tied to the embedding.
  constexpr uint64_t h = 64, inter = 128, layers = 2, q = 4 * 32, kv = 2 * 32, vocab = 151680;
  EXPECT_EQ(r.linear_macs_per_token,
            layers * (h * q + 2 * h * kv + q * h + 2 * inter * h + inter * h) + vocab * h);
  EXPECT_EQ(r.attention_macs_per_pair, layers * 2 * q);
  // The GEMM calibration: the first gate/up weight with input_len rows.
  ASSERT_TRUE(r.gemm.has_value());
  EXPECT_EQ(r.gemm->rows, 12);
  EXPECT_EQ(r.gemm->out_features, static_cast<int64_t>(2 * inter));
  EXPECT_EQ(r.gemm->in_features, static_cast<int64_t>(h));
  EXPECT_GT(r.gemm->seconds, 0);
  for (const auto& run : r.runs) {
    std::vector<double> prefill = run.prefill_s;
    std::sort(prefill.begin(), prefill.end());
    const double median_s = (prefill[0] + prefill[1]) / 2;
    const double tokens = run.batch_size * 12.0, pairs = run.batch_size * 12.0 * 13 / 2;
    const double flops = 2 * (tokens * static_cast<double>(r.linear_macs_per_token) +
                              pairs * static_cast<double>(r.attention_macs_per_pair));
    EXPECT_NEAR(run.prefill_gflops, flops / median_s / 1e9, 1e-9 * run.prefill_gflops);
    EXPECT_NEAR(run.prefill_gemm_fraction, run.prefill_gflops / r.gemm->gflops(), 1e-9);
  }
  // Warm-up and timed iterations: (1 + 2) x (1 + 3) requests of 5 tokens.
  const auto m = engine->metrics();
  EXPECT_EQ(m.requests_finished_length, 12u);
  EXPECT_EQ(m.generation_tokens, 60u);
  EXPECT_EQ(m.prefix_cache_hits, 0u);  // every prompt is fresh
  engine->stop();
  EXPECT_EQ(engine->blocks_in_use(), 0);

  const auto j = bench::to_json(r);
  EXPECT_EQ(j["benchmark"], "latency");
  EXPECT_EQ(j["runs"].size(), 2u);
  for (const char* key : {"prefill_tok_s", "decode_tok_s", "decode_ms_per_token", "roofline_tok_s",
                          "roofline_fraction", "step_overhead_ms", "avg_latency", "prefill_gflops",
                          "prefill_gemm_fraction"}) {
    EXPECT_TRUE(j["runs"][1][key].is_number()) << key;
  }
  EXPECT_EQ(j["gemm_calibration"]["n"], 2 * inter);
  EXPECT_GT(j["gemm_calibration"]["gflops"].get<double>(), 0);
  EXPECT_GT(j["model"]["weight_bytes_per_token"].get<uint64_t>(), 0u);
  std::ostringstream table;
  bench::print_table(r, table);
  EXPECT_NE(table.str().find("roofline tok/s"), std::string::npos);
  EXPECT_NE(table.str().find("GEMM peak"), std::string::npos);
}

// With tensor parallelism each decode step's forward pass is split into rank 0's collectives
// and the rest; the collectives are part of the step, and absent without tensor parallelism.
TEST(BenchLatency, TensorParallelSplitsDecodeStepsIntoCollectivesAndCompute) {
  auto config = tiny_config();
  config.tensor_parallel_size = 2;
  config.profile_collectives = true;
  config.plugin_options["cpu.num_threads"] = "1";
  auto engine = Engine::create(config);
  bench::LatencyOptions o;
  o.input_len = 8;
  o.output_len = 6;
  o.batch_size = 2;
  o.num_iters = 1;
  o.num_iters_warmup = 0;
  const auto r = bench::run_latency(*engine, o, bench::BandwidthResult{});
  EXPECT_EQ(r.tensor_parallel_size, 2);
  ASSERT_EQ(r.runs.size(), 2u);
  for (const auto& run : r.runs) {
    EXPECT_GT(run.tp_decode_step_ms, 0);
    EXPECT_GT(run.tp_collective_ms, 0);
    EXPECT_LT(run.tp_collective_ms, run.tp_decode_step_ms);
  }
  // One rank's share of a sharded GEMM is not the model's: no calibration.
  EXPECT_FALSE(r.gemm.has_value());
  const auto j = bench::to_json(r);
  EXPECT_EQ(j["tensor_parallel_size"], 2);
  EXPECT_TRUE(j["gemm_calibration"].is_null());
  EXPECT_TRUE(j["runs"][0]["tp_collective_ms"].is_number());
  std::ostringstream table;
  bench::print_table(r, table);
  EXPECT_NE(table.str().find("collectives ms"), std::string::npos) << table.str();
  engine->stop();

  auto single = Engine::create(tiny_config());
  const auto one = bench::run_latency(*single, o, bench::BandwidthResult{});
  EXPECT_EQ(one.runs[0].tp_decode_step_ms, 0);
  std::ostringstream plain;
  bench::print_table(one, plain);
  EXPECT_EQ(plain.str().find("collectives ms"), std::string::npos);
}

TEST(BenchLatency, OutputLenOneHasNoDecode) {
  auto engine = Engine::create(tiny_config());
  bench::LatencyOptions o;
  o.input_len = 8;
  o.output_len = 1;
  o.num_iters = 1;
  o.num_iters_warmup = 0;
  const auto r = bench::run_latency(*engine, o, bench::BandwidthResult{});
  ASSERT_EQ(r.runs.size(), 1u);
  EXPECT_GT(r.runs[0].prefill_tok_s, 0);
  const auto j = bench::to_json(r);
  EXPECT_TRUE(j["runs"][0]["decode_tok_s"].is_null());
  EXPECT_TRUE(j["runs"][0]["roofline_fraction"].is_null());
  EXPECT_TRUE(j["runs"][0]["step_overhead_ms"].is_null());
}

TEST(BenchLatency, BadOptionsAndOversizedRequestsAreErrors) {
  auto engine = Engine::create(tiny_config());
  bench::LatencyOptions o;
  o.num_iters = 0;
  EXPECT_THROW(bench::run_latency(*engine, o, {}), Error);
  o = {};
  o.input_len = 250;
  o.output_len = 10;  // 260 > max_model_len 256
  EXPECT_THROW(bench::run_latency(*engine, o, {}), Error);
}

TEST(BenchDataset, RandomIsSeededAndWithinTheRange) {
  const auto a = bench::random_dataset(50, 20, 10, 0.5, 7, 1000);
  const auto b = bench::random_dataset(50, 20, 10, 0.5, 7, 1000);
  const auto c = bench::random_dataset(50, 20, 10, 0.5, 8, 1000);
  ASSERT_EQ(a.size(), 50u);
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].prompt, b[i].prompt);
    EXPECT_EQ(a[i].output_len, b[i].output_len);
    differs = differs || a[i].prompt != c[i].prompt;
    EXPECT_GE(a[i].prompt.size(), 10u);
    EXPECT_LE(a[i].prompt.size(), 30u);
    EXPECT_GE(a[i].output_len, 5);
    EXPECT_LE(a[i].output_len, 15);
    for (int32_t id : a[i].prompt) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, 1000);
    }
  }
  EXPECT_TRUE(differs);
  const auto fixed = bench::random_dataset(5, 20, 10, 0.0, 1, 1000);
  for (const auto& r : fixed) {
    EXPECT_EQ(r.prompt.size(), 20u);
    EXPECT_EQ(r.output_len, 10);
  }
  EXPECT_THROW(bench::random_dataset(0, 20, 10, 0.0, 1, 1000), Error);
  EXPECT_THROW(bench::random_dataset(5, 20, 10, 1.0, 1, 1000), Error);
}

class BenchShareGpt : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tessera_bench_sharegpt_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    tokenizer_ = tokenizer::Tokenizer::from_files(std::string(TESSERA_TINY_MODELS_DIR) + "/qwen3");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
};

TEST_F(BenchShareGpt, PicksConversationsThatFit) {
  const std::string long_text(3000, 'x');
  const auto path = write("data.json", R"([
    {"id": "a", "conversations": [
      {"from": "human", "value": "Tell me a story about a lighthouse keeper and a storm."},
      {"from": "gpt", "value": "Once upon a time a keeper watched the sea every night until dawn."}]},
    {"id": "one-turn", "conversations": [{"from": "human", "value": "Hello there, how are you?"}]},
    {"id": "short", "conversations": [
      {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello! How can I help you today?"}]},
    {"id": "long", "conversations": [
      {"from": "human", "value": ")" + long_text +
                                           R"("},
      {"from": "gpt", "value": "That is a lot of text to read through at once."}]},
    {"id": "b", "conversations": [
      {"from": "human", "value": "What is the capital of France, and why is it famous?"},
      {"from": "gpt", "value": "Paris is the capital; it is famous for art, food and history."},
      {"from": "human", "value": "Thanks!"}]}
  ])");
  bench::ShareGptLimits limits;
  limits.max_prompt_len = 200;
  const auto requests = bench::sharegpt_dataset(path, 2, *tokenizer_, std::nullopt, 3, limits);
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& r : requests) {
    EXPECT_GE(r.prompt.size(), 4u);
    EXPECT_LE(r.prompt.size(), 200u);
    EXPECT_GE(r.output_len, 4);
  }
  const auto fixed = bench::sharegpt_dataset(path, 2, *tokenizer_, 7, 3, limits);
  for (const auto& r : fixed) EXPECT_EQ(r.output_len, 7);
  // Only two entries qualify.
  try {
    bench::sharegpt_dataset(path, 3, *tokenizer_, std::nullopt, 3, limits);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("only 2"), std::string::npos) << e.what();
  }
}

TEST_F(BenchShareGpt, BadFilesAreErrors) {
  EXPECT_THROW(bench::sharegpt_dataset((dir_ / "missing.json").string(), 1, *tokenizer_,
                                       std::nullopt, 0, {}),
               Error);
  EXPECT_THROW(bench::sharegpt_dataset(write("bad.json", "[{\"conversations\": "), 1, *tokenizer_,
                                       std::nullopt, 0, {}),
               Error);
  EXPECT_THROW(
      bench::sharegpt_dataset(write("obj.json", "{\"a\": 1}"), 1, *tokenizer_, std::nullopt, 0, {}),
      Error);
}

void expect_consistent(const bench::ThroughputResult& r,
                       const std::vector<bench::BenchRequest>& requests) {
  EXPECT_EQ(r.num_requests, static_cast<int>(requests.size()));
  EXPECT_EQ(r.completed + r.failed, r.num_requests);
  EXPECT_EQ(r.failed, 0) << r.first_error;
  uint64_t prompt = 0, output = 0;
  for (const auto& q : requests) {
    prompt += q.prompt.size();
    output += static_cast<uint64_t>(q.output_len);
  }
  EXPECT_EQ(r.prompt_tokens, prompt);
  EXPECT_EQ(r.expected_output_tokens, output);
  EXPECT_EQ(r.output_tokens, output);  // ignore_eos: every request runs to its length
  EXPECT_GT(r.elapsed_s, 0);
  EXPECT_GT(r.requests_per_s, 0);
  EXPECT_GT(r.output_tok_s, 0);
  EXPECT_NEAR(r.total_tok_s * r.elapsed_s, static_cast<double>(prompt + output),
              1e-6 * (prompt + output));
  EXPECT_GT(r.mean_ttft_s, 0);
  EXPECT_GT(r.mean_tpot_s, 0);
  EXPECT_GT(r.kv_samples, 0);
  EXPECT_GE(r.mean_kv_usage, 0);
  EXPECT_LE(r.mean_kv_usage, r.max_kv_usage);
  EXPECT_LE(r.max_kv_usage, 1.0);
  EXPECT_GT(r.steps, 0u);
}

TEST(BenchThroughput, RandomWithBoundedConcurrency) {
  auto engine = Engine::create(tiny_config());
  const auto requests = bench::random_dataset(12, 24, 8, 0.5, 11, engine->tokenizer().vocab_size());
  bench::ThroughputOptions o;
  o.max_concurrency = 3;
  o.seed = 5;
  const auto r = bench::run_throughput(*engine, requests, o);
  EXPECT_EQ(r.max_concurrency, 3);
  expect_consistent(r, requests);
  EXPECT_LE(r.mean_running, 3.0);
  engine->stop();
  EXPECT_EQ(engine->blocks_in_use(), 0);
  const auto j = bench::to_json(r);
  for (const char* key : {"requests_per_second", "tokens_per_second", "output_tokens_per_second",
                          "mean_kv_usage", "preemptions_swap", "preemptions_recompute",
                          "elapsed_time", "num_requests", "total_num_tokens"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["total_num_tokens"].get<uint64_t>(), r.prompt_tokens + r.output_tokens);
}

// A KV cache of 12 blocks of 16 tokens for 8 requests of 64 tokens each: requests must be
// preempted (swap, then recompute) and still all finish with every token.
TEST(BenchThroughput, PreemptionsAreCounted) {
  for (const std::string mode : {"swap", "recompute"}) {
    auto config = tiny_config();
    config.max_model_len = 128;
    config.num_gpu_blocks_override = 12;
    config.preemption_mode = mode;
    auto engine = Engine::create(config);
    const auto requests =
        bench::random_dataset(8, 32, 32, 0.0, 3, engine->tokenizer().vocab_size());
    bench::ThroughputOptions o;
    const auto r = bench::run_throughput(*engine, requests, o);
    expect_consistent(r, requests);
    EXPECT_EQ(r.max_concurrency, 8);
    if (mode == "swap") {
      EXPECT_GT(r.preemptions_swap, 0u) << mode;
    } else {
      EXPECT_GT(r.preemptions_recompute, 0u) << mode;
      EXPECT_GT(r.recomputed_tokens, 0u);
    }
    EXPECT_GT(r.max_kv_usage, 0.5);
    engine->stop();
    EXPECT_EQ(engine->blocks_in_use(), 0);
  }
}

TEST(BenchThroughput, RefusedRequestsCountAsFailed) {
  auto engine = Engine::create(tiny_config());
  std::vector<bench::BenchRequest> requests(3);
  requests[0].prompt = {1, 2, 3, 4};
  requests[0].output_len = 3;
  requests[1].prompt = std::vector<int32_t>(300, 5);  // beyond max_model_len
  requests[1].output_len = 3;
  requests[2].prompt = {6, 7, 8};
  requests[2].output_len = 2;
  const auto r = bench::run_throughput(*engine, requests, {});
  EXPECT_EQ(r.completed, 2);
  EXPECT_EQ(r.failed, 1);
  EXPECT_NE(r.first_error.find("context length"), std::string::npos) << r.first_error;
  EXPECT_EQ(r.output_tokens, 5u);
  EXPECT_EQ(r.prompt_tokens, 7u);
}

}  // namespace
