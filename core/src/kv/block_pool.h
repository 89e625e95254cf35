// BlockPool: the device KV blocks as pure bookkeeping (ids, ref counts, prefix-cache entries);
// it never touches device memory.
//
// Invariants (checked by check_consistency()):
//  - a block with ref count > 0 is in no free list;
//  - a block with ref count 0 is in exactly one free list: `uncached` when it holds no cache
//    entry, the LRU list when it does (a free cached block keeps its entry until reused);
//  - every registered block is in the hash index exactly once, under its hash.
// allocate() takes never-cached free blocks first, then evicts the least recently freed cached
// block (dropping its entry). ref() on a free cached block revives it (prefix hit).
//
// Identity of cached contents: each registered block carries a content id. Two registered
// blocks share a content id exactly when their token ids and their parents' content ids are
// equal, so a content id stands for one whole token prefix. lookup() requires the hash, the
// token ids and the parent content id to match, which makes a hash collision harmless.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "kv/block_hash.h"

namespace tessera::kv {

class BlockPool {
 public:
  // Content id of "no parent" (the parent of block 0).
  static constexpr std::uint64_t kRootContent = 0;

  BlockPool(int num_blocks, bool enable_caching);

  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  // Blocks with ref count 0, cached or not: what allocate() can hand out.
  int num_free_blocks() const { return static_cast<int>(uncached_free_.size() + lru_.size()); }
  int num_cached_free_blocks() const { return static_cast<int>(lru_.size()); }
  bool caching_enabled() const { return caching_; }

  // n blocks with ref count 1 and no cache entry; throws if fewer than n are free.
  std::vector<BlockId> allocate(int n);
  // The same, appended to `out` (no allocation when `out` has room).
  void allocate(int n, std::vector<BlockId>& out);
  // ref count + 1; a free block leaves its free list (a cached one keeps its entry).
  void ref(BlockId id);
  // ref count - 1; at 0 the block joins the back of the LRU list if cached, else `uncached`.
  void unref(BlockId id);

  int ref_count(BlockId id) const { return at(id).ref; }
  bool is_registered(BlockId id) const { return at(id).registered; }
  BlockHash hash(BlockId id) const { return at(id).hash; }
  std::uint64_t content_id(BlockId id) const { return at(id).content_id; }
  const std::vector<TokenId>& tokens(BlockId id) const { return at(id).tokens; }

  // A registered block with this hash, parent content and token ids, if any.
  std::optional<BlockId> lookup(BlockHash hash, std::uint64_t parent_content,
                                std::span<const TokenId> tokens) const;
  // Adds a held (ref > 0), unregistered block to the cache.
  void register_block(BlockId id, BlockHash hash, std::uint64_t parent_content,
                      std::span<const TokenId> tokens);
  // Drops a held block's cache entry (before its contents are rewritten).
  void unregister(BlockId id);

  // Cached free blocks, next to be evicted first.
  std::vector<BlockId> lru_order() const { return {lru_.begin(), lru_.end()}; }

  // Throws tessera::Error (kInternal) naming the first violated invariant.
  void check_consistency() const;

 private:
  struct Block {
    int ref = 0;
    bool registered = false;
    bool in_lru = false;
    BlockHash hash = 0;
    std::uint64_t content_id = kRootContent;
    std::uint64_t parent_content = kRootContent;
    std::vector<TokenId> tokens;
    std::list<BlockId>::iterator lru_it;
  };

  const Block& at(BlockId id) const;
  Block& at(BlockId id);
  void drop_entry(BlockId id);

  bool caching_;
  std::vector<Block> blocks_;
  std::vector<BlockId> uncached_free_;  // stack; popped from the back
  std::list<BlockId> lru_;              // front = least recently freed
  std::unordered_multimap<BlockHash, BlockId> index_;
  std::uint64_t next_content_id_ = kRootContent + 1;
};

}  // namespace tessera::kv
