// Block hashing for automatic prefix caching. A full KV block is identified by a hash chain:
// hash(block i) = H(hash(block i-1), token ids of block i), with kRootHash before block 0, so a
// block's hash names its whole prefix. The hash only finds candidates: the block pool also
// compares the stored token ids and the parent block's identity on every hit, so a collision
// can cost a cache miss but never hands out a block with different contents.
//
// XXH64 comes from Debian's libxxhash (libxxhash-dev); tests/kv checks it against vectors
// of the PyPI xxhash package (tests/data/xxh64_vectors.json).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace tessera::kv {

using TokenId = std::int32_t;
using BlockId = std::int32_t;
using BlockHash = std::uint64_t;

// The parent hash of block 0.
inline constexpr BlockHash kRootHash = 0x7e55e1a0c0ffee11ULL;

// Hash of a block given its parent's hash and its token ids. Tests inject weak functions
// through KvCacheConfig::hash_fn to provoke collisions.
using BlockHashFn = std::function<BlockHash(BlockHash parent, std::span<const TokenId> tokens)>;

// XXH64 of `size` bytes with `seed`. The block hash feeds it the host's integer bytes, so
// hashes are stable only between hosts of one byte order (prefix caching never leaves a host).
std::uint64_t xxh64(const void* data, std::size_t size, std::uint64_t seed = 0);

// The default BlockHashFn: XXH64 over the parent hash's 8 bytes followed by the token ids.
BlockHash hash_block_tokens(BlockHash parent, std::span<const TokenId> tokens);

}  // namespace tessera::kv
