// Which heads, rows and columns each tensor-parallel rank holds (models/tensor_parallel.h),
// for real model shapes, without a device: the same logic serves every plugin (CUDA included).
#include <gtest/gtest.h>

#include "common/check.h"
#include "models/tensor_parallel.h"

namespace {

using tessera::models::check_tensor_parallel;
using tessera::models::shard_layout;
using tessera::models::ShardLayout;

tessera::model::ModelConfig shape(int64_t heads, int64_t kv_heads, int64_t inter, int64_t vocab) {
  tessera::model::ModelConfig c;
  c.architecture_name = "LlamaForCausalLM";
  c.hidden_size = heads * 128;
  c.head_dim = 128;
  c.num_heads = heads;
  c.num_kv_heads = kv_heads;
  c.intermediate_size = inter;
  c.vocab_size = vocab;
  return c;
}

TEST(TensorShard, HeadsAndKvHeadsAreDividedInOrder) {
  const auto llama70b = shape(64, 8, 28672, 128256);
  for (int32_t rank = 0; rank < 4; ++rank) {
    const ShardLayout s = shard_layout(llama70b, {rank, 4});
    EXPECT_EQ(s.q_heads, 16);
    EXPECT_EQ(s.q_head_begin, 16 * rank);
    EXPECT_EQ(s.kv_heads, 2);
    EXPECT_EQ(s.kv_head_begin, 2 * rank);
    EXPECT_EQ(s.intermediate, 7168);
    EXPECT_EQ(s.intermediate_begin, 7168 * rank);
    EXPECT_TRUE(s.vocab_parallel);
    EXPECT_EQ(s.vocab, 32064);
    EXPECT_EQ(s.vocab_begin, 32064 * rank);
    // Every query head of the rank reads a KV head the rank holds (GQA groups of 8).
    for (int64_t h = s.q_head_begin; h < s.q_head_begin + s.q_heads; ++h) {
      const int64_t kv = h / (64 / 8);
      EXPECT_GE(kv, s.kv_head_begin);
      EXPECT_LT(kv, s.kv_head_begin + s.kv_heads);
    }
  }
}

TEST(TensorShard, KvHeadsAreReplicatedWhenRanksOutnumberThem) {
  const auto tiny = shape(4, 2, 128, 32000);  // the test suite's tiny models
  const int64_t want_kv[] = {0, 0, 1, 1};
  for (int32_t rank = 0; rank < 4; ++rank) {
    const ShardLayout s = shard_layout(tiny, {rank, 4});
    EXPECT_EQ(s.q_heads, 1);
    EXPECT_EQ(s.kv_heads, 1);
    EXPECT_EQ(s.kv_head_begin, want_kv[rank]);
    EXPECT_EQ(s.q_head_begin / 2, s.kv_head_begin);  // its query head's KV head
  }
  const auto qwen72b = shape(64, 8, 29568, 152064);
  EXPECT_NO_THROW(check_tensor_parallel(qwen72b, 16));
  EXPECT_EQ(shard_layout(qwen72b, {5, 16}).kv_head_begin, 2);  // 2 ranks per KV head
}

TEST(TensorShard, UndividableConfigsAreRefusedNamingTheFlag) {
  auto message = [](const tessera::model::ModelConfig& c, int32_t n) {
    try {
      check_tensor_parallel(c, n);
    } catch (const tessera::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(shape(4, 2, 128, 32000), 3).find("4 attention heads"), std::string::npos);
  EXPECT_NE(message(shape(12, 4, 2048, 32000), 8).find("attention heads"), std::string::npos);
  // 6 KV heads: 4 ranks neither divide them nor are a multiple of them.
  EXPECT_NE(message(shape(24, 6, 4096, 32000), 4).find("6 KV heads"), std::string::npos);
  EXPECT_NE(message(shape(8, 8, 100, 32000), 8).find("intermediate size 100"), std::string::npos);
  EXPECT_NE(message(shape(8, 8, 128, 32000), 0).find(">= 1"), std::string::npos);
  EXPECT_EQ(message(shape(8, 8, 128, 32000), 1), "no error");
}

TEST(TensorShard, AVocabularyThatDoesNotDivideStaysWhole) {
  const ShardLayout s = shard_layout(shape(4, 2, 128, 32001), {1, 2});
  EXPECT_FALSE(s.vocab_parallel);
  EXPECT_EQ(s.vocab, 32001);
  EXPECT_EQ(s.vocab_begin, 0);
  EXPECT_FALSE(shard_layout(shape(4, 2, 128, 32000), {0, 1}).vocab_parallel);
}

}  // namespace
