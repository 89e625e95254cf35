// KvCacheManager: per-request block tables over a BlockPool (device) and a SwapSpace (host),
// with automatic prefix caching and copy-on-write. Pure bookkeeping: it plans block
// allocations, copies and swaps as ids; the runner moves the bytes.
//
// Ownership: the manager owns every block table; a request's table lives from its first
// allocate_slots() until free(). Invariants (check_consistency()): a device block's ref count
// equals the number of tables holding it; a table's first num_cached blocks are registered in
// the prefix cache; a swapped request holds host blocks only; host blocks belong to one table.
//
// Runner order for one step's plan: swap_out, then swap_in, then copies, then the forward.
// Blocks freed by a swap-out may be handed out again in the same plan, so swap-outs must be
// read before anything else writes.
#pragma once

#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kv/block_hash.h"
#include "kv/block_pool.h"
#include "kv/swap_space.h"

namespace tessera::kv {

using RequestId = std::string;

struct KvCacheConfig {
  int num_blocks = 0;       // device blocks
  int block_size = 16;      // tokens per block
  int num_host_blocks = 0;  // swap space in blocks; 0 = no swap
  bool enable_prefix_caching = true;
  BlockHashFn hash_fn;  // empty: hash_block_tokens (XXH64); tests inject weak ones
};

// One whole-block copy: device->device (COW), device->host (swap out), host->device (swap in).
struct BlockCopy {
  BlockId src = -1;
  BlockId dst = -1;
  bool operator==(const BlockCopy&) const = default;
};

// What the manager adds to a step's plan.
struct KvPlan {
  std::vector<BlockId> new_blocks;  // freshly allocated device blocks (contents undefined)
  std::vector<BlockCopy> copies;
  std::vector<BlockCopy> swap_out;
  std::vector<BlockCopy> swap_in;
};

class KvCacheManager {
 public:
  explicit KvCacheManager(KvCacheConfig config);

  int block_size() const { return block_size_; }
  int num_blocks() const { return pool_.num_blocks(); }
  int capacity_tokens() const { return pool_.num_blocks() * block_size_; }
  int blocks_for(int num_tokens) const { return (num_tokens + block_size_ - 1) / block_size_; }
  bool caching_enabled() const { return pool_.caching_enabled(); }
  // Fraction of device blocks held by requests (ref count > 0).
  double usage() const;

  // The longest cached prefix of `tokens` in whole blocks, every block verified by its token
  // ids and its parent's identity. The caller decides how much of it to use.
  std::vector<BlockId> match_prefix(std::span<const TokenId> tokens) const;

  // Makes request `id`'s device table cover `num_slots` token slots; slots from `write_from`
  // on will be written this step. `hits` (allowed only while `id` holds no blocks) become its
  // first entries, ref-counted. A block about to be written that is shared (ref > 1) is
  // replaced by a fresh one plus a copy pair; one held only by `id` but cached loses its cache
  // entry instead. All or nothing: false, and no change, when too few blocks are free.
  bool allocate_slots(const RequestId& id, int write_from, int num_slots,
                      std::span<const BlockId> hits, KvPlan* plan);

  // Room in `id`'s device table for num_tokens slots, so that growing it later allocates
  // nothing (the scheduler reserves prompt + max_tokens at admission). No-op for an unknown id.
  void reserve(const RequestId& id, int num_tokens);

  // Registers `id`'s full blocks whose num_computed tokens have been written; `tokens` is the
  // request's whole token history. No-op when prefix caching is off.
  void cache_full_blocks(const RequestId& id, std::span<const TokenId> tokens, int num_computed);

  // Moves the blocks holding `id`'s first num_slots slots to host blocks (pairs in
  // plan->swap_out) and frees all its device blocks. False, and no change, if the swap space
  // lacks room.
  bool swap_out(const RequestId& id, int num_slots, KvPlan* plan);
  // Brings a swapped request back: device blocks for max(host blocks, num_slots slots), pairs
  // in plan->swap_in. False, and no change, if too few device blocks are free.
  bool swap_in(const RequestId& id, int num_slots, KvPlan* plan);
  // Device blocks a swap_in(id, num_slots) would need.
  int swap_in_blocks(const RequestId& id, int num_slots) const;

  // Releases everything `id` holds (device blocks in reverse order, so a prefix outlives its
  // tail in the LRU; host blocks). No-op for an unknown id.
  void free(const RequestId& id);

  bool has(const RequestId& id) const { return tables_.count(id) != 0; }
  bool is_swapped(const RequestId& id) const;
  // Empty for an unknown id.
  const std::vector<BlockId>& block_table(const RequestId& id) const;
  const std::vector<BlockId>& host_block_table(const RequestId& id) const;
  int num_blocks_held(const RequestId& id) const {
    return static_cast<int>(block_table(id).size());
  }

  const BlockPool& pool() const { return pool_; }
  // Forgets the cached contents of every free block (BlockPool::evict_free_cached).
  int reset_prefix_cache() { return pool_.evict_free_cached(); }
  const SwapSpace& swap_space() const { return swap_; }

  // Throws tessera::Error (kInternal) naming the first violated invariant.
  void check_consistency() const;

 private:
  struct Table {
    std::vector<BlockId> blocks;  // device
    std::vector<BlockId> host;    // while swapped
    int num_cached = 0;           // leading blocks registered in the prefix cache
    bool swapped = false;
  };

  void release_device_blocks(Table& t);

  int block_size_;
  BlockHashFn hash_fn_;
  BlockPool pool_;
  SwapSpace swap_;
  std::unordered_map<RequestId, Table> tables_;
};

}  // namespace tessera::kv
