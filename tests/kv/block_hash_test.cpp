// Tests of the hand-written XXH64 (reference vectors) and the block hash chain.
#include "kv/block_hash.h"

#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <vector>

namespace tessera::kv {
namespace {

TEST(Xxh64, ReferenceVectors) {
  if constexpr (std::endian::native != std::endian::little) GTEST_SKIP() << "vectors are LE";
  EXPECT_EQ(xxh64("", 0), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(xxh64("a", 1), 0xD24EC4F1A98C6E5BULL);
  EXPECT_EQ(xxh64("abc", 3), 0x44BC2CF5AD770999ULL);
}

TEST(Xxh64, AllTailLengthsDifferAndSeedMatters) {
  std::string s = "The quick brown fox jumps over the lazy dog, twice over and again";
  std::vector<std::uint64_t> seen;
  for (std::size_t n = 0; n <= s.size(); ++n) {
    std::uint64_t h = xxh64(s.data(), n);
    for (std::uint64_t prev : seen) EXPECT_NE(h, prev) << n;
    seen.push_back(h);
  }
  EXPECT_NE(xxh64(s.data(), s.size(), 1), xxh64(s.data(), s.size(), 0));
}

TEST(BlockHash, ChainDependsOnParentAndTokens) {
  std::vector<TokenId> a{1, 2, 3, 4};
  std::vector<TokenId> b{1, 2, 3, 5};
  EXPECT_EQ(hash_block_tokens(kRootHash, a), hash_block_tokens(kRootHash, a));
  EXPECT_NE(hash_block_tokens(kRootHash, a), hash_block_tokens(kRootHash, b));
  EXPECT_NE(hash_block_tokens(kRootHash, a), hash_block_tokens(kRootHash + 1, a));
}

}  // namespace
}  // namespace tessera::kv
