// BlockPool implementation; see block_pool.h for the invariants.
#include "kv/block_pool.h"

#include <algorithm>
#include <bit>

#include "common/check.h"

namespace tessera::kv {

BlockPool::BlockPool(int num_blocks, int block_size, bool enable_caching)
    : caching_(enable_caching),
      block_size_(block_size),
      blocks_(static_cast<std::size_t>(std::max(num_blocks, 0))) {
  TSR_CHECK(num_blocks > 0, "the KV cache needs at least one block, got {}", num_blocks);
  TSR_CHECK(block_size > 0, "block size must be > 0, got {}", block_size);
  // Reverse order so that block 0 is handed out first: easier to read in plans and tests.
  uncached_free_.reserve(blocks_.size());
  for (BlockId id = num_blocks - 1; id >= 0; --id) uncached_free_.push_back(id);
  if (caching_) {
    buckets_.assign(std::bit_ceil(blocks_.size()), kNone);
    token_store_.resize(blocks_.size() * static_cast<std::size_t>(block_size));
  }
}

const BlockPool::Block& BlockPool::at(BlockId id) const {
  TSR_CHECK_KIND(id >= 0 && id < num_blocks(), ErrorKind::kInternal,
                 "block id {} out of range [0, {})", id, num_blocks());
  return blocks_[static_cast<std::size_t>(id)];
}

BlockPool::Block& BlockPool::at(BlockId id) {
  return const_cast<Block&>(static_cast<const BlockPool*>(this)->at(id));
}

std::span<const TokenId> BlockPool::tokens(BlockId id) const {
  const Block& b = at(id);
  if (!b.registered) return {};
  return {token_store_.data() + static_cast<std::size_t>(id) * block_size_,
          static_cast<std::size_t>(b.num_tokens)};
}

void BlockPool::lru_push_back(BlockId id) {
  Block& b = at(id);
  b.lru_prev = lru_tail_;
  b.lru_next = kNone;
  if (lru_tail_ != kNone) {
    at(lru_tail_).lru_next = id;
  } else {
    lru_head_ = id;
  }
  lru_tail_ = id;
  b.in_lru = true;
  ++lru_size_;
}

void BlockPool::lru_unlink(BlockId id) {
  Block& b = at(id);
  (b.lru_prev != kNone ? at(b.lru_prev).lru_next : lru_head_) = b.lru_next;
  (b.lru_next != kNone ? at(b.lru_next).lru_prev : lru_tail_) = b.lru_prev;
  b.lru_prev = b.lru_next = kNone;
  b.in_lru = false;
  --lru_size_;
}

std::vector<BlockId> BlockPool::lru_order() const {
  std::vector<BlockId> out;
  for (BlockId id = lru_head_; id != kNone; id = at(id).lru_next) out.push_back(id);
  return out;
}

int BlockPool::evict_free_cached() {
  int dropped = 0;
  while (lru_head_ != kNone) {
    const BlockId id = lru_head_;
    lru_unlink(id);
    drop_entry(id);
    uncached_free_.push_back(id);
    ++dropped;
  }
  return dropped;
}

std::vector<BlockId> BlockPool::allocate(int n) {
  std::vector<BlockId> out;
  out.reserve(static_cast<std::size_t>(std::max(n, 0)));
  allocate(n, out);
  return out;
}

void BlockPool::allocate(int n, std::vector<BlockId>& out) {
  TSR_CHECK_KIND(n >= 0 && n <= num_free_blocks(), ErrorKind::kInternal,
                 "cannot allocate {} KV blocks, {} free", n, num_free_blocks());
  for (int i = 0; i < n; ++i) {
    BlockId id;
    if (!uncached_free_.empty()) {
      id = uncached_free_.back();
      uncached_free_.pop_back();
    } else {
      id = lru_head_;
      lru_unlink(id);
      drop_entry(id);
    }
    at(id).ref = 1;
    out.push_back(id);
  }
}

void BlockPool::ref(BlockId id) {
  Block& b = at(id);
  if (b.ref == 0) {
    if (b.in_lru) {
      lru_unlink(id);
    } else {
      auto it = std::find(uncached_free_.begin(), uncached_free_.end(), id);
      TSR_CHECK_KIND(it != uncached_free_.end(), ErrorKind::kInternal,
                     "free block {} is in no free list", id);
      uncached_free_.erase(it);
    }
  }
  ++b.ref;
}

void BlockPool::unref(BlockId id) {
  Block& b = at(id);
  TSR_CHECK_KIND(b.ref > 0, ErrorKind::kInternal, "double free of KV block {}", id);
  if (--b.ref > 0) return;
  if (b.registered) {
    lru_push_back(id);
  } else {
    uncached_free_.push_back(id);
  }
}

std::optional<BlockId> BlockPool::lookup(BlockHash hash, std::uint64_t parent_content,
                                         std::span<const TokenId> tokens) const {
  if (!caching_) return std::nullopt;
  for (BlockId id = bucket(hash); id != kNone; id = at(id).bucket_next) {
    const Block& b = at(id);
    if (b.hash == hash && b.parent_content == parent_content &&
        std::ranges::equal(this->tokens(id), tokens)) {
      return id;
    }
  }
  return std::nullopt;
}

void BlockPool::register_block(BlockId id, BlockHash hash, std::uint64_t parent_content,
                               std::span<const TokenId> tokens) {
  TSR_CHECK_KIND(caching_, ErrorKind::kInternal, "prefix caching is disabled");
  TSR_CHECK_KIND(!tokens.empty() && tokens.size() <= static_cast<std::size_t>(block_size_),
                 ErrorKind::kInternal, "block {} registered with {} token ids (block size {})", id,
                 tokens.size(), block_size_);
  Block& b = at(id);
  TSR_CHECK_KIND(b.ref > 0 && !b.registered, ErrorKind::kInternal,
                 "block {} registered while free or already registered", id);
  // A duplicate of cached contents shares their content id, so that children registered
  // under either copy are found from both.
  auto same = lookup(hash, parent_content, tokens);
  b.content_id = same ? at(*same).content_id : next_content_id_++;
  b.registered = true;
  b.hash = hash;
  b.parent_content = parent_content;
  b.num_tokens = static_cast<int>(tokens.size());
  std::ranges::copy(tokens, token_store_.begin() + static_cast<std::ptrdiff_t>(id) * block_size_);
  BlockId& head = bucket(hash);
  b.bucket_next = head;
  head = id;
}

void BlockPool::unregister(BlockId id) {
  Block& b = at(id);
  TSR_CHECK_KIND(b.ref > 0, ErrorKind::kInternal, "unregister of free block {}", id);
  drop_entry(id);
}

void BlockPool::drop_entry(BlockId id) {
  Block& b = at(id);
  if (!b.registered) return;
  for (BlockId* link = &bucket(b.hash); *link != kNone; link = &at(*link).bucket_next) {
    if (*link == id) {
      *link = b.bucket_next;
      break;
    }
  }
  b.registered = false;
  b.bucket_next = kNone;
  b.hash = 0;
  b.content_id = kRootContent;
  b.parent_content = kRootContent;
  b.num_tokens = 0;
}

void BlockPool::check_consistency() const {
  auto fail = [](const std::string& what) {
    throw Error("BlockPool: " + what, ErrorKind::kInternal);
  };
  std::vector<int> seen_free(blocks_.size(), 0);
  for (BlockId id : uncached_free_) {
    const Block& b = at(id);
    if (b.ref != 0 || b.registered || b.in_lru)
      fail(fmt::format("block {} in the uncached free list has ref {} registered {}", id, b.ref,
                       b.registered));
    ++seen_free[static_cast<std::size_t>(id)];
  }
  int lru_seen = 0;
  for (BlockId id = lru_head_, prev = kNone; id != kNone; prev = id, id = at(id).lru_next) {
    const Block& b = at(id);
    if (b.ref != 0 || !b.registered || !b.in_lru || b.lru_prev != prev)
      fail(fmt::format("block {} in the LRU list has ref {} registered {}", id, b.ref,
                       b.registered));
    if (++lru_seen > num_blocks()) fail("the LRU list has a cycle");
    ++seen_free[static_cast<std::size_t>(id)];
  }
  if (lru_seen != lru_size_)
    fail(fmt::format("the LRU list holds {} blocks but counts {}", lru_seen, lru_size_));
  // Every chain entry is registered and in its hash's bucket; count each block's entries.
  std::vector<int> indexed(blocks_.size(), 0);
  int entries = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    for (BlockId id = buckets_[i]; id != kNone; id = at(id).bucket_next) {
      const Block& b = at(id);
      if (!b.registered || (b.hash & (buckets_.size() - 1)) != i)
        fail(fmt::format("block {} is indexed in bucket {} but registered {} hash {:#x}", id, i,
                         b.registered, b.hash));
      if (++entries > num_blocks()) fail("a hash-index chain has a cycle");
      ++indexed[static_cast<std::size_t>(id)];
    }
  }
  int registered = 0;
  for (BlockId id = 0; id < num_blocks(); ++id) {
    const Block& b = blocks_[static_cast<std::size_t>(id)];
    if (b.ref < 0) fail(fmt::format("block {} has negative ref {}", id, b.ref));
    int expected = b.ref == 0 ? 1 : 0;
    if (seen_free[static_cast<std::size_t>(id)] != expected)
      fail(fmt::format("block {} with ref {} is in {} free lists", id, b.ref,
                       seen_free[static_cast<std::size_t>(id)]));
    if (b.registered) {
      ++registered;
      if (indexed[static_cast<std::size_t>(id)] != 1)
        fail(fmt::format("registered block {} is not indexed once under its hash", id));
      if (b.num_tokens == 0) fail(fmt::format("block {} cached empty", id));
    }
  }
  if (registered != entries)
    fail(fmt::format("{} registered blocks but {} index entries", registered, entries));
}

}  // namespace tessera::kv
