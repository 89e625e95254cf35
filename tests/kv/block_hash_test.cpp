// Tests of XXH64 (libxxhash) against reference vectors, and of the block hash chain.
#include "kv/block_hash.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tessera::kv {
namespace {

// XXH64 reads its input as little-endian words whatever the host, so byte-string vectors
// hold everywhere.
TEST(Xxh64, ReferenceVectors) {
  EXPECT_EQ(xxh64("", 0), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(xxh64("a", 1), 0xD24EC4F1A98C6E5BULL);
  EXPECT_EQ(xxh64("abc", 3), 0x44BC2CF5AD770999ULL);
}

// Inputs of 0..1000 bytes (every tail length, the 32-byte stripe boundaries, multi-stripe
// inputs the size of real blocks) with two seeds, digests from the PyPI xxhash package:
// tests/data/kv/xxh64_vectors.json, written by scripts/gen_xxh64_vectors.py.
TEST(Xxh64, LongInputVectorsFromThePythonPackage) {
  const std::string path = std::string(TESSERA_TEST_DATA_DIR) + "/kv/xxh64_vectors.json";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "cannot read " << path;
  const nlohmann::json fixture = nlohmann::json::parse(in);
  const std::string hex = fixture.at("input_hex").get<std::string>();
  std::vector<unsigned char> input(hex.size() / 2);
  for (std::size_t i = 0; i < input.size(); ++i) {
    input[i] = static_cast<unsigned char>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  }
  ASSERT_EQ(input.size(), 1000u);
  int checked = 0;
  for (const auto& v : fixture.at("vectors")) {
    const auto length = v.at("length").get<std::size_t>();
    const std::uint64_t seed = std::stoull(v.at("seed").get<std::string>(), nullptr, 16);
    const std::uint64_t want = std::stoull(v.at("xxh64").get<std::string>(), nullptr, 16);
    ASSERT_LE(length, input.size());
    EXPECT_EQ(xxh64(input.data(), length, seed), want) << "length " << length << " seed " << seed;
    ++checked;
  }
  EXPECT_GE(checked, 190);
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

TEST(BlockHash, IsTheOneShotXxh64OfParentBytesThenTokenBytes) {
  // The block hash streams its input (no buffer to allocate); the value is the documented one.
  std::vector<TokenId> tokens(64);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<TokenId>(i * 7919);
  std::vector<unsigned char> bytes(sizeof kRootHash + tokens.size() * sizeof(TokenId));
  std::memcpy(bytes.data(), &kRootHash, sizeof kRootHash);
  std::memcpy(bytes.data() + sizeof kRootHash, tokens.data(), tokens.size() * sizeof(TokenId));
  EXPECT_EQ(hash_block_tokens(kRootHash, tokens), xxh64(bytes.data(), bytes.size()));
  EXPECT_EQ(hash_block_tokens(kRootHash, {}), xxh64(&kRootHash, sizeof kRootHash));
}

}  // namespace
}  // namespace tessera::kv
