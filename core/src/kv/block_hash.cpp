// XXH64 (Debian's libxxhash) and the default block hash built on it.
#include "kv/block_hash.h"

// The state struct's definition, so that the streaming hash lives on the stack: the block
// hash runs whenever a block fills, inside decode steps that must not allocate.
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

namespace tessera::kv {

std::uint64_t xxh64(const void* data, std::size_t size, std::uint64_t seed) {
  return XXH64(data, size, seed);
}

BlockHash hash_block_tokens(BlockHash parent, std::span<const TokenId> tokens) {
  // Streaming XXH64 over the parent's 8 bytes then the token ids: the same value as the
  // one-shot hash of the concatenation.
  XXH64_state_t state;
  XXH64_reset(&state, 0);
  XXH64_update(&state, &parent, sizeof parent);
  if (!tokens.empty()) XXH64_update(&state, tokens.data(), tokens.size_bytes());
  return XXH64_digest(&state);
}

}  // namespace tessera::kv
