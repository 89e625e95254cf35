// Tests of KvCacheManager: prefix hits, copy-on-write, collisions under a weak hash, swap
// pairs, all-or-nothing allocation and release order.
#include "kv/kv_cache_manager.h"

#include <gtest/gtest.h>

#include <numeric>

#include "common/check.h"

namespace tessera::kv {
namespace {

constexpr int kBs = 4;

std::vector<TokenId> seq(int n, TokenId start = 100) {
  std::vector<TokenId> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

KvCacheConfig config(int blocks, int host_blocks = 0, BlockHashFn fn = {}) {
  KvCacheConfig c;
  c.num_blocks = blocks;
  c.block_size = kBs;
  c.num_host_blocks = host_blocks;
  c.hash_fn = std::move(fn);
  return c;
}

// Allocates and "computes" `tokens` for `id` in one go, registering its full blocks.
void fill(KvCacheManager& kv, const RequestId& id, const std::vector<TokenId>& tokens) {
  KvPlan plan;
  ASSERT_TRUE(kv.allocate_slots(id, 0, static_cast<int>(tokens.size()), {}, &plan));
  kv.cache_full_blocks(id, tokens, static_cast<int>(tokens.size()));
}

TEST(KvCacheManager, PrefixHitReusesBlocksAndSharesRefCounts) {
  KvCacheManager kv(config(8));
  auto a = seq(10);  // 2 full blocks + 2 tokens
  fill(kv, "a", a);
  const auto a_table = kv.block_table("a");
  ASSERT_EQ(a_table.size(), 3u);

  auto b = seq(8);
  b.push_back(7);
  b.push_back(8);  // shares the 2 full blocks, differs after
  auto hits = kv.match_prefix(b);
  ASSERT_EQ(hits, (std::vector<BlockId>{a_table[0], a_table[1]}));
  KvPlan plan;
  ASSERT_TRUE(kv.allocate_slots("b", 8, 10, hits, &plan));
  EXPECT_TRUE(plan.copies.empty());
  EXPECT_EQ(plan.new_blocks.size(), 1u);
  EXPECT_EQ(kv.block_table("b")[0], a_table[0]);
  EXPECT_EQ(kv.pool().ref_count(a_table[0]), 2);
  EXPECT_EQ(kv.pool().ref_count(a_table[2]), 1);
  kv.check_consistency();

  // The partial third block and a diverging block are never matched.
  auto c = seq(12);
  EXPECT_EQ(kv.match_prefix(c).size(), 2u);
  auto d = seq(12);
  d[1] = 0;
  EXPECT_TRUE(kv.match_prefix(d).empty());
}

TEST(KvCacheManager, WritingIntoSharedBlockCopiesIt) {
  KvCacheManager kv(config(8));
  auto p = seq(8);
  fill(kv, "a", p);
  auto hits = kv.match_prefix(p);
  ASSERT_EQ(hits.size(), 2u);
  // Whole prompt cached: recompute only the last token, which writes into the shared block.
  KvPlan plan;
  ASSERT_TRUE(kv.allocate_slots("b", 7, 8, hits, &plan));
  ASSERT_EQ(plan.copies.size(), 1u);
  EXPECT_EQ(plan.copies[0].src, hits[1]);
  EXPECT_EQ(plan.new_blocks, (std::vector<BlockId>{plan.copies[0].dst}));
  EXPECT_EQ(kv.block_table("b"), (std::vector<BlockId>{hits[0], plan.copies[0].dst}));
  EXPECT_EQ(kv.pool().ref_count(hits[1]), 1);  // a only
  EXPECT_TRUE(kv.pool().is_registered(hits[1]));
  kv.check_consistency();
  // Once computed, b's copy is registered again as a duplicate of the same contents.
  kv.cache_full_blocks("b", p, 8);
  EXPECT_TRUE(kv.pool().is_registered(plan.copies[0].dst));
  kv.check_consistency();
}

TEST(KvCacheManager, WritingIntoCachedBlockHeldOnlyByUsDropsItsEntry) {
  KvCacheManager kv(config(8));
  auto p = seq(8);
  fill(kv, "a", p);
  kv.free("a");
  auto hits = kv.match_prefix(p);
  ASSERT_EQ(hits.size(), 2u);
  KvPlan plan;
  ASSERT_TRUE(kv.allocate_slots("b", 7, 8, hits, &plan));
  EXPECT_TRUE(plan.copies.empty());
  EXPECT_TRUE(plan.new_blocks.empty());
  EXPECT_FALSE(kv.pool().is_registered(hits[1]));
  EXPECT_TRUE(kv.pool().is_registered(hits[0]));
  kv.check_consistency();
}

TEST(KvCacheManager, ConstantHashNeverSharesWrongBlocks) {
  KvCacheManager kv(config(16, 0, [](BlockHash, std::span<const TokenId>) { return 1; }));
  std::vector<TokenId> a{1, 1, 1, 1, 2, 2, 2, 2};
  std::vector<TokenId> d{3, 3, 3, 3, 4, 4, 4, 4};
  fill(kv, "a", a);
  fill(kv, "d", d);
  // Block 0 equals a's, block 1 equals d's block 1 but under another parent: only 1 hit.
  std::vector<TokenId> q{1, 1, 1, 1, 4, 4, 4, 4, 9};
  auto hits = kv.match_prefix(q);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0], kv.block_table("a")[0]);
  std::vector<TokenId> other{5, 5, 5, 5, 2, 2, 2, 2, 9};
  EXPECT_TRUE(kv.match_prefix(other).empty());
  // Identical histories still hit fully.
  EXPECT_EQ(kv.match_prefix(a), kv.block_table("a"));
  kv.check_consistency();
}

TEST(KvCacheManager, SumHashCollisionsAreCaughtByTokenComparison) {
  auto sum = [](BlockHash parent, std::span<const TokenId> t) {
    BlockHash h = parent;
    for (TokenId x : t) h += static_cast<BlockHash>(x);
    return h;
  };
  KvCacheManager kv(config(16, 0, sum));
  std::vector<TokenId> a{1, 2, 3, 4, 5, 6, 7, 8};
  fill(kv, "a", a);
  std::vector<TokenId> perm{4, 3, 2, 1, 8, 7, 6, 5};  // same sums, other tokens
  EXPECT_TRUE(kv.match_prefix(perm).empty());
}

TEST(KvCacheManager, AllocationIsAllOrNothing) {
  KvCacheManager kv(config(2));
  KvPlan plan;
  EXPECT_FALSE(kv.allocate_slots("a", 0, 9, {}, &plan));
  EXPECT_FALSE(kv.has("a"));
  EXPECT_EQ(kv.pool().num_free_blocks(), 2);
  EXPECT_TRUE(plan.new_blocks.empty());
  ASSERT_TRUE(kv.allocate_slots("a", 0, 8, {}, &plan));
  EXPECT_FALSE(kv.allocate_slots("a", 8, 9, {}, &plan));
  EXPECT_EQ(kv.block_table("a").size(), 2u);
  kv.check_consistency();
}

TEST(KvCacheManager, SwapPairsFollowTheBlockTables) {
  KvCacheManager kv(config(6, 4));
  auto p = seq(10);
  fill(kv, "a", p);
  const auto before = kv.block_table("a");
  KvPlan out;
  ASSERT_TRUE(kv.swap_out("a", 10, &out));
  EXPECT_TRUE(kv.is_swapped("a"));
  EXPECT_TRUE(kv.block_table("a").empty());
  const auto host = kv.host_block_table("a");
  ASSERT_EQ(out.swap_out.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(out.swap_out[i], (BlockCopy{before[i], host[i]}));
  EXPECT_EQ(kv.swap_space().num_free_blocks(), 1);
  kv.check_consistency();

  KvPlan in;
  ASSERT_TRUE(kv.swap_in("a", 13, &in));  // one more block for what comes next
  const auto after = kv.block_table("a");
  ASSERT_EQ(after.size(), 4u);
  ASSERT_EQ(in.swap_in.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(in.swap_in[i], (BlockCopy{host[i], after[i]}));
  EXPECT_EQ(kv.swap_space().num_free_blocks(), 4);
  kv.check_consistency();
  kv.free("a");
  EXPECT_EQ(kv.pool().num_free_blocks(), 6);
  kv.check_consistency();
}

TEST(KvCacheManager, SwapOutFailsCleanlyWithoutRoom) {
  KvCacheManager kv(config(6, 2));
  fill(kv, "a", seq(10));
  KvPlan out;
  EXPECT_FALSE(kv.swap_out("a", 10, &out));
  EXPECT_FALSE(kv.is_swapped("a"));
  EXPECT_TRUE(out.swap_out.empty());
  kv.check_consistency();
}

TEST(KvCacheManager, FreeReleasesTailFirstSoPrefixesLiveLonger) {
  KvCacheManager kv(config(4));
  fill(kv, "a", seq(12));
  const auto t = kv.block_table("a");
  kv.free("a");
  EXPECT_EQ(kv.pool().lru_order(), (std::vector<BlockId>{t[2], t[1], t[0]}));
  kv.check_consistency();
}

TEST(KvCacheManager, DisabledCachingNeverHits) {
  auto c = config(8);
  c.enable_prefix_caching = false;
  KvCacheManager kv(c);
  fill(kv, "a", seq(8));
  EXPECT_TRUE(kv.match_prefix(seq(8)).empty());
  kv.check_consistency();
}

}  // namespace
}  // namespace tessera::kv
