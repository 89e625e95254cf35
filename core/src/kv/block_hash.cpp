// XXH64 (Debian's libxxhash) and the default block hash built on it.
#include "kv/block_hash.h"

#include <xxhash.h>

#include <cstring>
#include <vector>

namespace tessera::kv {

std::uint64_t xxh64(const void* data, std::size_t size, std::uint64_t seed) {
  return XXH64(data, size, seed);
}

BlockHash hash_block_tokens(BlockHash parent, std::span<const TokenId> tokens) {
  std::vector<unsigned char> bytes(sizeof parent + tokens.size_bytes());
  std::memcpy(bytes.data(), &parent, sizeof parent);
  if (!tokens.empty())
    std::memcpy(bytes.data() + sizeof parent, tokens.data(), tokens.size_bytes());
  return xxh64(bytes.data(), bytes.size());
}

}  // namespace tessera::kv
