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
//
// Nothing here allocates after construction (a decode step that fills a block registers it,
// and steps must not allocate): the LRU list is threaded through the blocks by id, the hash
// index is a fixed bucket array (a power of two >= the block count) whose chains are threaded
// through the blocks too, and cached token ids live in one array of block_size per block.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kv/block_hash.h"

namespace tessera::kv {

class BlockPool {
 public:
  // Content id of "no parent" (the parent of block 0).
  static constexpr std::uint64_t kRootContent = 0;

  // Cached blocks hold up to block_size token ids each.
  BlockPool(int num_blocks, int block_size, bool enable_caching);

  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  // Blocks with ref count 0, cached or not: what allocate() can hand out.
  int num_free_blocks() const { return static_cast<int>(uncached_free_.size()) + lru_size_; }
  int num_cached_free_blocks() const { return lru_size_; }
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
  std::span<const TokenId> tokens(BlockId id) const;

  // A registered block with this hash, parent content and token ids, if any.
  std::optional<BlockId> lookup(BlockHash hash, std::uint64_t parent_content,
                                std::span<const TokenId> tokens) const;
  // Adds a held (ref > 0), unregistered block to the cache (1 to block_size tokens).
  void register_block(BlockId id, BlockHash hash, std::uint64_t parent_content,
                      std::span<const TokenId> tokens);
  // Drops a held block's cache entry (before its contents are rewritten).
  void unregister(BlockId id);

  // Cached free blocks, next to be evicted first.
  std::vector<BlockId> lru_order() const;

  // Drops the cache entry of every free cached block (vLLM's reset_prefix_cache): they become
  // uncached free blocks. Blocks held by requests keep theirs, so a running request's cached
  // prefix stays valid. Returns how many entries were dropped.
  int evict_free_cached();

  // Throws tessera::Error (kInternal) naming the first violated invariant.
  void check_consistency() const;

 private:
  static constexpr BlockId kNone = -1;

  struct Block {
    int ref = 0;
    bool registered = false;
    bool in_lru = false;
    int num_tokens = 0;  // cached token ids, in token_store_ at id * block_size_
    BlockHash hash = 0;
    std::uint64_t content_id = kRootContent;
    std::uint64_t parent_content = kRootContent;
    BlockId lru_prev = kNone;     // towards the least recently freed
    BlockId lru_next = kNone;     // towards the most recently freed
    BlockId bucket_next = kNone;  // next registered block in this hash bucket
  };

  const Block& at(BlockId id) const;
  Block& at(BlockId id);
  BlockId& bucket(BlockHash hash) { return buckets_[hash & (buckets_.size() - 1)]; }
  BlockId bucket(BlockHash hash) const { return buckets_[hash & (buckets_.size() - 1)]; }
  void lru_push_back(BlockId id);
  void lru_unlink(BlockId id);
  void drop_entry(BlockId id);

  bool caching_;
  int block_size_;
  std::vector<Block> blocks_;
  std::vector<BlockId> uncached_free_;  // stack; popped from the back
  BlockId lru_head_ = kNone;            // least recently freed cached block
  BlockId lru_tail_ = kNone;
  int lru_size_ = 0;
  std::vector<BlockId> buckets_;      // hash index: chain heads (empty when caching is off)
  std::vector<TokenId> token_store_;  // block_size_ token ids per block
  std::uint64_t next_content_id_ = kRootContent + 1;
};

}  // namespace tessera::kv
