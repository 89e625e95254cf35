// `tessera plan`'s arithmetic on the example: a 7B-class Qwen2 config (131072-token
// context) in sym_int4 on a 16 GiB device at utilization 0.7 with 4096 batched tokens.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "engine/memory_plan.h"
#include "models/registry.h"
#include "tessera/engine_config.h"
#include "tessera/error.h"
#include "tessera/plan.h"

namespace {

tessera::engine::PlanInput qwen2_7b() {
  std::ifstream file(std::string(TESSERA_TEST_DATA_DIR) + "/configs/qwen2-7b.json");
  std::stringstream text;
  text << file.rdbuf();
  tessera::engine::PlanInput in;
  in.config = tessera::models::parse_hf_config(text.str(), "qwen2-7b.json");
  in.dtype = TSR_DTYPE_BF16;
  in.quantization = tessera::model::Quantization::kInt4;
  in.device_memory = 16ull << 30;
  in.gpu_memory_utilization = 0.7;
  in.max_num_batched_tokens = 4096;
  return in;
}

}  // namespace

TEST(MemoryPlan, SevenBInt4On16GiBRunsOutAtFullContext) {
  const auto in = qwen2_7b();
  const auto r = tessera::engine::plan_memory(in);
  // int4 linear weights (~0.56 B/param) plus bf16 embeddings: about 5.5 GiB.
  EXPECT_GT(r.weights, 4ull << 30);
  EXPECT_LT(r.weights, 7ull << 30);
  // bf16 KV: 2 x 4 heads x 128 x 2 B x 28 layers = 56 KiB per token.
  EXPECT_EQ(r.kv_block_bytes, 16u * 2 * 4 * 128 * 2 * 28);
  EXPECT_EQ(r.max_model_len, 131072);
  EXPECT_FALSE(r.fits);  // one 131072-token sequence needs 7 GiB of KV
  ASSERT_FALSE(r.problems.empty());
  EXPECT_NE(r.problems[0].find("131072"), std::string::npos) << r.problems[0];
  // It says what fits: a shorter context, and more devices.
  bool shorter = false, devices = false;
  for (const auto& s : r.suggestions) {
    shorter |= s.find("--max-model-len") != std::string::npos;
    devices |= s.find("--tensor-parallel-size 2") != std::string::npos;
  }
  EXPECT_TRUE(shorter);
  EXPECT_TRUE(devices);
  const std::string report = tessera::engine::format_plan(in, r);
  EXPECT_NE(report.find("DOES NOT FIT"), std::string::npos);
}

TEST(MemoryPlan, SuggestedContextLengthActuallyFits) {
  auto in = qwen2_7b();
  const auto r = tessera::engine::plan_memory(in);
  for (const auto& s : r.suggestions) {
    if (s.rfind("--max-model-len ", 0) != 0) continue;
    in.max_model_len = std::stoi(s.substr(16));
    const auto fixed = tessera::engine::plan_memory(in);
    EXPECT_TRUE(fixed.fits);
    EXPECT_GE(fixed.max_concurrency, 1.0);
    in.max_model_len += 4 * 1024;  // and clearly more does not
    EXPECT_FALSE(tessera::engine::plan_memory(in).fits);
  }
}

TEST(MemoryPlan, ShorterContextFitsManySequences) {
  auto in = qwen2_7b();
  in.max_model_len = 8192;
  const auto r = tessera::engine::plan_memory(in);
  EXPECT_TRUE(r.fits);
  EXPECT_GT(r.max_concurrency, 5.0);
  EXPECT_TRUE(r.suggestions.empty());
}

// Tensor parallelism: the plan is per rank, with the loader's layout: heads, MLP and
// vocabulary split, KV heads split down to one per rank and then replicated.
TEST(MemoryPlan, TensorParallelPlansOneRanksShare) {
  auto in = qwen2_7b();
  in.max_model_len = 8192;
  const auto one = tessera::engine::plan_memory(in);
  in.tensor_parallel_size = 2;
  const auto two = tessera::engine::plan_memory(in);
  EXPECT_EQ(two.kv_block_bytes * 2, one.kv_block_bytes);
  // Everything but the norm weights is split.
  EXPECT_LT(two.weights, one.weights / 2 + (one.weights / 100));
  EXPECT_GT(two.weights, one.weights / 2);
  EXPECT_GT(two.kv_blocks, one.kv_blocks);  // each rank's budget holds more (smaller) blocks
  EXPECT_NE(tessera::engine::format_plan(in, two).find("per rank, x 2 ranks"), std::string::npos);
  in.tensor_parallel_size = 4;
  EXPECT_EQ(tessera::engine::plan_memory(in).kv_block_bytes * 4, one.kv_block_bytes);
  // 8 ranks over 4 KV heads (with 32 query heads, so that they divide): one replicated KV
  // head per rank, the KV block of 4 ranks.
  in.config.num_heads = 32;
  in.config.head_dim = in.config.hidden_size / 32;
  in.tensor_parallel_size = 8;
  const auto eight = tessera::engine::plan_memory(in);
  in.tensor_parallel_size = 4;
  EXPECT_EQ(eight.kv_block_bytes, tessera::engine::plan_memory(in).kv_block_bytes);
  in.tensor_parallel_size = 3;
  try {
    tessera::engine::plan_memory(in);
    FAIL() << "expected TP 3 to be refused";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("--tensor-parallel-size 3"), std::string::npos)
        << e.what();
  }
}

// plan_model (tessera/plan.h, what `tessera plan` calls) reads the config file and gives the
// same plan and report as plan_memory on the parsed config.
TEST(MemoryPlan, PlanModelReadsTheConfigFile) {
  tessera::PlanOptions options;
  options.model = std::string(TESSERA_TEST_DATA_DIR) + "/configs/qwen2-7b.json";
  options.quantization = "sym_int4";
  options.device_memory = 16ull << 30;
  options.gpu_memory_utilization = 0.7;
  options.max_num_batched_tokens = 4096;
  const auto report = tessera::plan_model(options);
  const auto in = qwen2_7b();
  const auto expected = tessera::engine::plan_memory(in);
  EXPECT_EQ(report.fits, expected.fits);
  EXPECT_EQ(report.text, tessera::engine::format_plan(in, expected));
  options.max_model_len = 8192;
  EXPECT_TRUE(tessera::plan_model(options).fits);
}

TEST(MemoryPlan, PlanModelRefusesBadInputWithAnError) {
  tessera::PlanOptions options;
  options.model = std::string(TESSERA_TEST_DATA_DIR) + "/configs/qwen2-7b.json";
  options.device_memory = 16ull << 30;
  options.dtype = "float8";
  EXPECT_THROW(tessera::plan_model(options), tessera::Error);
  options.dtype = "bfloat16";
  options.quantization = "int3";
  EXPECT_THROW(tessera::plan_model(options), tessera::Error);
  options.quantization = "";
  options.block_size = 0;
  EXPECT_THROW(tessera::plan_model(options), tessera::Error);
  options.block_size = 16;
  options.model = std::string(TESSERA_TEST_DATA_DIR) + "/configs/no-such-config.json";
  EXPECT_THROW(tessera::plan_model(options), tessera::Error);
}

TEST(MemoryPlan, QuantizationNamesAreTheEngineConfigs) {
  for (const char* name : {"", "none", "int8", "sym_int8", "int4", "sym_int4", "fp8"}) {
    EXPECT_TRUE(tessera::is_quantization_name(name)) << name;
  }
  EXPECT_FALSE(tessera::is_quantization_name("int3"));
  EXPECT_FALSE(tessera::is_quantization_name("INT8"));
}
