// BlockPool implementation; see block_pool.h for the invariants.
#include "kv/block_pool.h"

#include <algorithm>

#include "common/check.h"

namespace tessera::kv {

BlockPool::BlockPool(int num_blocks, bool enable_caching)
    : caching_(enable_caching), blocks_(static_cast<std::size_t>(std::max(num_blocks, 0))) {
  TSR_CHECK(num_blocks > 0, "the KV cache needs at least one block, got {}", num_blocks);
  // Reverse order so that block 0 is handed out first: easier to read in plans and tests.
  uncached_free_.reserve(blocks_.size());
  for (BlockId id = num_blocks - 1; id >= 0; --id) uncached_free_.push_back(id);
}

const BlockPool::Block& BlockPool::at(BlockId id) const {
  TSR_CHECK_KIND(id >= 0 && id < num_blocks(), ErrorKind::kInternal,
                 "block id {} out of range [0, {})", id, num_blocks());
  return blocks_[static_cast<std::size_t>(id)];
}

BlockPool::Block& BlockPool::at(BlockId id) {
  return const_cast<Block&>(static_cast<const BlockPool*>(this)->at(id));
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
      id = lru_.front();
      lru_.pop_front();
      at(id).in_lru = false;
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
      lru_.erase(b.lru_it);
      b.in_lru = false;
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
    b.lru_it = lru_.insert(lru_.end(), id);
    b.in_lru = true;
  } else {
    uncached_free_.push_back(id);
  }
}

std::optional<BlockId> BlockPool::lookup(BlockHash hash, std::uint64_t parent_content,
                                         std::span<const TokenId> tokens) const {
  auto [lo, hi] = index_.equal_range(hash);
  for (auto it = lo; it != hi; ++it) {
    const Block& b = at(it->second);
    if (b.parent_content == parent_content &&
        std::equal(b.tokens.begin(), b.tokens.end(), tokens.begin(), tokens.end())) {
      return it->second;
    }
  }
  return std::nullopt;
}

void BlockPool::register_block(BlockId id, BlockHash hash, std::uint64_t parent_content,
                               std::span<const TokenId> tokens) {
  TSR_CHECK_KIND(caching_, ErrorKind::kInternal, "prefix caching is disabled");
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
  b.tokens.assign(tokens.begin(), tokens.end());
  index_.emplace(hash, id);
}

void BlockPool::unregister(BlockId id) {
  Block& b = at(id);
  TSR_CHECK_KIND(b.ref > 0, ErrorKind::kInternal, "unregister of free block {}", id);
  drop_entry(id);
}

void BlockPool::drop_entry(BlockId id) {
  Block& b = at(id);
  if (!b.registered) return;
  auto [lo, hi] = index_.equal_range(b.hash);
  for (auto it = lo; it != hi; ++it) {
    if (it->second == id) {
      index_.erase(it);
      break;
    }
  }
  b.registered = false;
  b.hash = 0;
  b.content_id = kRootContent;
  b.parent_content = kRootContent;
  b.tokens.clear();
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
  for (BlockId id : lru_) {
    const Block& b = at(id);
    if (b.ref != 0 || !b.registered || !b.in_lru)
      fail(fmt::format("block {} in the LRU list has ref {} registered {}", id, b.ref,
                       b.registered));
    ++seen_free[static_cast<std::size_t>(id)];
  }
  std::size_t registered = 0;
  for (BlockId id = 0; id < num_blocks(); ++id) {
    const Block& b = blocks_[static_cast<std::size_t>(id)];
    if (b.ref < 0) fail(fmt::format("block {} has negative ref {}", id, b.ref));
    int expected = b.ref == 0 ? 1 : 0;
    if (seen_free[static_cast<std::size_t>(id)] != expected)
      fail(fmt::format("block {} with ref {} is in {} free lists", id, b.ref,
                       seen_free[static_cast<std::size_t>(id)]));
    if (b.registered) {
      ++registered;
      auto [lo, hi] = index_.equal_range(b.hash);
      if (std::count_if(lo, hi, [&](const auto& e) { return e.second == id; }) != 1)
        fail(fmt::format("registered block {} is not indexed once under its hash", id));
      if (static_cast<int>(b.tokens.size()) == 0) fail(fmt::format("block {} cached empty", id));
    }
  }
  if (registered != index_.size())
    fail(fmt::format("{} registered blocks but {} index entries", registered, index_.size()));
}

}  // namespace tessera::kv
