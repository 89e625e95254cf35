// Tests of BlockPool: allocation order, ref counts, LRU eviction of free cached blocks,
// revival on a hit, and the consistency checker itself.
#include "kv/block_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>

#include "common/check.h"

namespace tessera::kv {
namespace {

std::vector<TokenId> toks(TokenId base) {
  return {base, base + 1};
}

TEST(BlockPool, AllocatesLowIdsFirstAndCountsFree) {
  BlockPool pool(4, 2, true);
  EXPECT_EQ(pool.allocate(2), (std::vector<BlockId>{0, 1}));
  EXPECT_EQ(pool.num_free_blocks(), 2);
  EXPECT_EQ(pool.ref_count(0), 1);
  pool.check_consistency();
  EXPECT_THROW(pool.allocate(3), Error);
}

TEST(BlockPool, DoubleFreeThrows) {
  BlockPool pool(2, 2, true);
  BlockId b = pool.allocate(1).front();
  pool.unref(b);
  EXPECT_THROW(pool.unref(b), Error);
  pool.check_consistency();
}

TEST(BlockPool, RejectsEmptyPool) {
  EXPECT_THROW(BlockPool(0, 2, true), Error);
}

TEST(BlockPool, EvictsLeastRecentlyFreedCachedBlockAfterUncachedOnes) {
  BlockPool pool(4, 2, true);
  auto ids = pool.allocate(4);
  for (BlockId b : ids) pool.register_block(b, 100 + static_cast<BlockHash>(b), 0, toks(b * 10));
  // Free 2, 0, 3: LRU order is the free order. Block 1 stays held.
  pool.unref(2);
  pool.unref(0);
  pool.unref(3);
  EXPECT_EQ(pool.lru_order(), (std::vector<BlockId>{2, 0, 3}));
  EXPECT_EQ(pool.num_cached_free_blocks(), 3);
  pool.check_consistency();
  // A hit on block 0 revives it: it leaves the LRU list and keeps its entry.
  ASSERT_EQ(pool.lookup(100, 0, toks(0)), BlockId{0});
  pool.ref(0);
  EXPECT_EQ(pool.lru_order(), (std::vector<BlockId>{2, 3}));
  EXPECT_TRUE(pool.is_registered(0));
  pool.check_consistency();
  // Allocation evicts 2 first (least recently freed), dropping its entry.
  EXPECT_EQ(pool.allocate(1), (std::vector<BlockId>{2}));
  EXPECT_FALSE(pool.is_registered(2));
  EXPECT_FALSE(pool.lookup(102, 0, toks(20)).has_value());
  EXPECT_TRUE(pool.lookup(103, 0, toks(30)).has_value());
  pool.check_consistency();
}

TEST(BlockPool, EvictFreeCachedForgetsOnlyBlocksNobodyHolds) {
  BlockPool pool(4, 2, true);
  auto ids = pool.allocate(3);
  for (BlockId b : ids) pool.register_block(b, 200 + static_cast<BlockHash>(b), 0, toks(b * 10));
  pool.unref(ids[0]);
  pool.unref(ids[2]);  // block 1 stays held by its request
  ASSERT_EQ(pool.num_cached_free_blocks(), 2);
  EXPECT_EQ(pool.evict_free_cached(), 2);
  EXPECT_EQ(pool.num_cached_free_blocks(), 0);
  EXPECT_EQ(pool.num_free_blocks(), 3);
  EXPECT_FALSE(pool.lookup(200, 0, toks(0)).has_value());
  EXPECT_FALSE(pool.lookup(202, 0, toks(20)).has_value());
  EXPECT_EQ(pool.lookup(201, 0, toks(10)), BlockId{1});  // a held prefix stays valid
  pool.check_consistency();
  EXPECT_EQ(pool.evict_free_cached(), 0);
  // Held block 1, freed later, is cached again as usual.
  pool.unref(1);
  EXPECT_EQ(pool.lru_order(), (std::vector<BlockId>{1}));
  pool.check_consistency();
}

TEST(BlockPool, UncachedFreeBlocksGoBeforeCachedOnes) {
  BlockPool pool(3, 2, true);
  auto ids = pool.allocate(2);
  pool.register_block(ids[0], 7, 0, toks(1));
  pool.unref(ids[0]);
  pool.unref(ids[1]);
  // ids[1] was never cached: it is reused before the cached ids[0] is evicted.
  auto got = pool.allocate(2);
  EXPECT_TRUE(pool.is_registered(ids[0]));
  EXPECT_EQ(std::count(got.begin(), got.end(), ids[0]), 0);
  pool.check_consistency();
}

TEST(BlockPool, LookupComparesTokensAndParentNotJustHash) {
  BlockPool pool(3, 2, true);
  auto ids = pool.allocate(3);
  pool.register_block(ids[0], 42, 0, toks(1));
  EXPECT_FALSE(pool.lookup(42, 0, toks(2)).has_value());  // same hash, other tokens
  EXPECT_FALSE(pool.lookup(42, 9, toks(1)).has_value());  // same hash, other parent
  EXPECT_EQ(pool.lookup(42, 0, toks(1)), ids[0]);
  // A duplicate of the same contents shares the content id.
  pool.register_block(ids[1], 42, 0, toks(1));
  EXPECT_EQ(pool.content_id(ids[1]), pool.content_id(ids[0]));
  // Same hash, other tokens: a distinct identity.
  pool.register_block(ids[2], 42, 0, toks(5));
  EXPECT_NE(pool.content_id(ids[2]), pool.content_id(ids[0]));
  pool.check_consistency();
}

TEST(BlockPool, HashesSharingABucketAreChainedAndUnlinkedFromAnyPosition) {
  // 4 blocks -> 4 buckets: hashes equal modulo 4 share a chain.
  BlockPool pool(4, 2, true);
  auto ids = pool.allocate(4);
  for (BlockId b : ids) pool.register_block(b, 8 * static_cast<BlockHash>(b) + 1, 0, toks(b));
  pool.check_consistency();
  for (BlockId b : ids) EXPECT_EQ(pool.lookup(8 * static_cast<BlockHash>(b) + 1, 0, toks(b)), b);
  // Drop the middle, then the head, then the tail of the chain.
  for (BlockId b : {ids[1], ids[3], ids[0]}) {
    pool.unregister(b);
    pool.check_consistency();
    EXPECT_FALSE(pool.lookup(8 * static_cast<BlockHash>(b) + 1, 0, toks(b)).has_value());
  }
  EXPECT_EQ(pool.lookup(8 * static_cast<BlockHash>(ids[2]) + 1, 0, toks(ids[2])), ids[2]);
}

TEST(BlockPool, RegisterRejectsMoreTokensThanABlockHolds) {
  BlockPool pool(2, 2, true);
  BlockId b = pool.allocate(1).front();
  const std::vector<TokenId> three{1, 2, 3};
  EXPECT_THROW(pool.register_block(b, 1, 0, three), Error);
  EXPECT_THROW(pool.register_block(b, 1, 0, std::span<const TokenId>{}), Error);
  pool.register_block(b, 1, 0, std::span<const TokenId>(three).first(1));
  EXPECT_EQ(pool.tokens(b).size(), 1u);
  pool.check_consistency();
}

TEST(BlockPool, RandomOperationsKeepEveryInvariant) {
  // Seeds are fixed so a failure replays; each is printed by SCOPED_TRACE.
  for (unsigned seed : {1u, 2u, 3u, 4u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    BlockPool pool(8, 2, true);
    std::vector<BlockId> held;
    for (int step = 0; step < 2000; ++step) {
      const int op = static_cast<int>(rng() % 4);
      if (op == 0 && pool.num_free_blocks() > 0) {
        for (BlockId b : pool.allocate(1)) held.push_back(b);
      } else if (op == 1 && !held.empty()) {
        const std::size_t i = rng() % held.size();
        pool.unref(held[i]);
        held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
      } else if (op == 2 && !held.empty()) {
        // Few distinct hashes and contents, so chains, duplicates and hits all happen.
        const BlockId b = held[rng() % held.size()];
        const TokenId t = static_cast<TokenId>(rng() % 3);
        if (!pool.is_registered(b)) pool.register_block(b, rng() % 5, 0, toks(t));
      } else if (op == 3) {
        const TokenId t = static_cast<TokenId>(rng() % 3);
        if (auto hit = pool.lookup(rng() % 5, 0, toks(t))) {
          EXPECT_TRUE(std::ranges::equal(pool.tokens(*hit), toks(t)));
          pool.ref(*hit);
          held.push_back(*hit);
        }
      }
      pool.check_consistency();
    }
  }
}

TEST(BlockPool, CachingDisabledNeverRegisters) {
  BlockPool pool(2, 2, false);
  BlockId b = pool.allocate(1).front();
  EXPECT_THROW(pool.register_block(b, 1, 0, toks(1)), Error);
}

}  // namespace
}  // namespace tessera::kv
