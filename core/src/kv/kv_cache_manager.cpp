// KvCacheManager implementation; see kv_cache_manager.h for the invariants.
#include "kv/kv_cache_manager.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/check.h"

namespace tessera::kv {
namespace {

const std::vector<BlockId> kNoBlocks;

}  // namespace

KvCacheManager::KvCacheManager(KvCacheConfig config)
    : block_size_(config.block_size),
      hash_fn_(config.hash_fn ? std::move(config.hash_fn) : BlockHashFn(hash_block_tokens)),
      pool_(config.num_blocks, config.block_size, config.enable_prefix_caching),
      swap_(config.num_host_blocks) {
  TSR_CHECK(config.block_size > 0, "block size must be > 0, got {}", config.block_size);
}

double KvCacheManager::usage() const {
  return static_cast<double>(pool_.num_blocks() - pool_.num_free_blocks()) / pool_.num_blocks();
}

std::vector<BlockId> KvCacheManager::match_prefix(std::span<const TokenId> tokens) const {
  std::vector<BlockId> out;
  if (!pool_.caching_enabled()) return out;
  BlockHash parent_hash = kRootHash;
  std::uint64_t parent_content = BlockPool::kRootContent;
  const std::size_t bs = static_cast<std::size_t>(block_size_);
  for (std::size_t i = 0; (i + 1) * bs <= tokens.size(); ++i) {
    auto block_tokens = tokens.subspan(i * bs, bs);
    BlockHash h = hash_fn_(parent_hash, block_tokens);
    auto hit = pool_.lookup(h, parent_content, block_tokens);
    if (!hit) break;
    out.push_back(*hit);
    parent_hash = h;
    parent_content = pool_.content_id(*hit);
  }
  return out;
}

bool KvCacheManager::allocate_slots(const RequestId& id, int write_from, int num_slots,
                                    std::span<const BlockId> hits, KvPlan* plan) {
  TSR_CHECK_KIND(write_from >= 0 && write_from <= num_slots, ErrorKind::kInternal,
                 "bad slot range [{}, {}) for request '{}'", write_from, num_slots, id);
  auto it = tables_.find(id);
  const Table* existing = it == tables_.end() ? nullptr : &it->second;
  TSR_CHECK_KIND(!existing || !existing->swapped, ErrorKind::kInternal,
                 "allocate_slots on swapped request '{}'", id);
  TSR_CHECK_KIND(hits.empty() || !existing || existing->blocks.empty(), ErrorKind::kInternal,
                 "prefix hits for request '{}' that already holds blocks", id);
  const int held = existing ? static_cast<int>(existing->blocks.size()) : 0;
  const int have = held + static_cast<int>(hits.size());
  const int want = blocks_for(num_slots);
  auto block_at = [&](int i) {
    return i < held ? existing->blocks[static_cast<std::size_t>(i)]
                    : hits[static_cast<std::size_t>(i - held)];
  };
  // Blocks that exist and will be written this step.
  const int first_written = write_from < num_slots ? write_from / block_size_ : want;
  const int last_written = std::min(have, want);

  int copies_needed = 0;
  for (int i = first_written; i < last_written; ++i) {
    BlockId b = block_at(i);
    if (pool_.ref_count(b) + (i >= held ? 1 : 0) > 1) ++copies_needed;
  }
  int hits_now_free = 0;
  for (BlockId b : hits) hits_now_free += pool_.ref_count(b) == 0 ? 1 : 0;
  const int fresh_needed = std::max(0, want - have) + copies_needed;
  if (fresh_needed > pool_.num_free_blocks() - hits_now_free) return false;

  Table& t = tables_[id];
  // Hits are taken before anything is allocated so that eviction cannot pick them.
  for (BlockId b : hits) {
    pool_.ref(b);
    t.blocks.push_back(b);
  }
  if (!hits.empty()) t.num_cached = static_cast<int>(hits.size());
  for (int i = first_written; i < last_written; ++i) {
    BlockId& slot = t.blocks[static_cast<std::size_t>(i)];
    if (pool_.ref_count(slot) > 1) {
      const std::size_t at = plan->new_blocks.size();
      pool_.allocate(1, plan->new_blocks);
      const BlockId dst = plan->new_blocks[at];
      plan->copies.push_back({slot, dst});
      pool_.unref(slot);
      slot = dst;
      t.num_cached = std::min(t.num_cached, i);
    } else if (pool_.is_registered(slot)) {
      pool_.unregister(slot);
      t.num_cached = std::min(t.num_cached, i);
    }
  }
  if (want > have) {
    const std::size_t first_new = t.blocks.size();
    pool_.allocate(want - have, t.blocks);
    plan->new_blocks.insert(plan->new_blocks.end(),
                            t.blocks.begin() + static_cast<std::ptrdiff_t>(first_new),
                            t.blocks.end());
  }
  return true;
}

void KvCacheManager::cache_full_blocks(const RequestId& id, std::span<const TokenId> tokens,
                                       int num_computed) {
  if (!pool_.caching_enabled()) return;
  auto it = tables_.find(id);
  if (it == tables_.end()) return;
  Table& t = it->second;
  const int full = std::min(num_computed / block_size_, static_cast<int>(t.blocks.size()));
  TSR_CHECK_KIND(static_cast<int>(tokens.size()) >= full * block_size_, ErrorKind::kInternal,
                 "request '{}': {} tokens for {} full blocks", id, tokens.size(), full);
  const std::size_t bs = static_cast<std::size_t>(block_size_);
  for (int i = t.num_cached; i < full; ++i) {
    const auto ui = static_cast<std::size_t>(i);
    BlockHash parent_hash = i == 0 ? kRootHash : pool_.hash(t.blocks[ui - 1]);
    std::uint64_t parent_content =
        i == 0 ? BlockPool::kRootContent : pool_.content_id(t.blocks[ui - 1]);
    auto block_tokens = tokens.subspan(ui * bs, bs);
    pool_.register_block(t.blocks[ui], hash_fn_(parent_hash, block_tokens), parent_content,
                         block_tokens);
  }
  t.num_cached = std::max(t.num_cached, full);
}

void KvCacheManager::reserve(const RequestId& id, int num_tokens) {
  auto it = tables_.find(id);
  if (it != tables_.end())
    it->second.blocks.reserve(static_cast<std::size_t>(blocks_for(num_tokens)));
}

void KvCacheManager::release_device_blocks(Table& t) {
  for (auto b = t.blocks.rbegin(); b != t.blocks.rend(); ++b) pool_.unref(*b);
  t.blocks.clear();
  t.num_cached = 0;
}

bool KvCacheManager::swap_out(const RequestId& id, int num_slots, KvPlan* plan) {
  auto it = tables_.find(id);
  TSR_CHECK_KIND(it != tables_.end() && !it->second.swapped, ErrorKind::kInternal,
                 "swap_out of request '{}' that holds no device blocks", id);
  Table& t = it->second;
  const int n = std::min(blocks_for(num_slots), static_cast<int>(t.blocks.size()));
  if (n > swap_.num_free_blocks()) return false;
  t.host = swap_.allocate(n);
  for (int i = 0; i < n; ++i) {
    const auto ui = static_cast<std::size_t>(i);
    plan->swap_out.push_back({t.blocks[ui], t.host[ui]});
  }
  release_device_blocks(t);
  t.swapped = true;
  return true;
}

int KvCacheManager::swap_in_blocks(const RequestId& id, int num_slots) const {
  return std::max(blocks_for(num_slots), static_cast<int>(host_block_table(id).size()));
}

bool KvCacheManager::swap_in(const RequestId& id, int num_slots, KvPlan* plan) {
  auto it = tables_.find(id);
  TSR_CHECK_KIND(it != tables_.end() && it->second.swapped, ErrorKind::kInternal,
                 "swap_in of request '{}' that is not swapped out", id);
  Table& t = it->second;
  const int need = swap_in_blocks(id, num_slots);
  if (need > pool_.num_free_blocks()) return false;
  t.blocks = pool_.allocate(need);
  for (std::size_t i = 0; i < t.host.size(); ++i) plan->swap_in.push_back({t.host[i], t.blocks[i]});
  plan->new_blocks.insert(plan->new_blocks.end(), t.blocks.begin(), t.blocks.end());
  swap_.free(t.host);
  t.host.clear();
  t.swapped = false;
  t.num_cached = 0;
  return true;
}

void KvCacheManager::free(const RequestId& id) {
  auto it = tables_.find(id);
  if (it == tables_.end()) return;
  release_device_blocks(it->second);
  swap_.free(it->second.host);
  tables_.erase(it);
}

bool KvCacheManager::is_swapped(const RequestId& id) const {
  auto it = tables_.find(id);
  return it != tables_.end() && it->second.swapped;
}

const std::vector<BlockId>& KvCacheManager::block_table(const RequestId& id) const {
  auto it = tables_.find(id);
  return it == tables_.end() ? kNoBlocks : it->second.blocks;
}

const std::vector<BlockId>& KvCacheManager::host_block_table(const RequestId& id) const {
  auto it = tables_.find(id);
  return it == tables_.end() ? kNoBlocks : it->second.host;
}

void KvCacheManager::check_consistency() const {
  auto fail = [](const std::string& what) {
    throw Error("KvCacheManager: " + what, ErrorKind::kInternal);
  };
  pool_.check_consistency();
  std::map<BlockId, int> holders;
  std::set<BlockId> host_used;
  for (const auto& [id, t] : tables_) {
    std::set<BlockId> mine(t.blocks.begin(), t.blocks.end());
    if (mine.size() != t.blocks.size()) fail(fmt::format("request '{}' holds a block twice", id));
    for (BlockId b : t.blocks) ++holders[b];
    if (t.swapped && !t.blocks.empty())
      fail(fmt::format("swapped request '{}' holds device blocks", id));
    if (!t.swapped && !t.host.empty())
      fail(fmt::format("running request '{}' holds host blocks", id));
    if (t.num_cached < 0 || t.num_cached > static_cast<int>(t.blocks.size()))
      fail(fmt::format("request '{}' num_cached {} of {} blocks", id, t.num_cached,
                       t.blocks.size()));
    for (int i = 0; i < t.num_cached; ++i) {
      if (!pool_.is_registered(t.blocks[static_cast<std::size_t>(i)]))
        fail(fmt::format("request '{}' block #{} counted cached but not registered", id, i));
    }
    for (BlockId h : t.host) {
      if (!swap_.is_used(h)) fail(fmt::format("request '{}' holds free host block {}", id, h));
      if (!host_used.insert(h).second) fail(fmt::format("host block {} held twice", h));
    }
  }
  for (BlockId b = 0; b < pool_.num_blocks(); ++b) {
    auto it = holders.find(b);
    int n = it == holders.end() ? 0 : it->second;
    if (pool_.ref_count(b) != n)
      fail(
          fmt::format("block {} has ref count {} but {} tables hold it", b, pool_.ref_count(b), n));
  }
  if (static_cast<int>(host_used.size()) != swap_.num_blocks() - swap_.num_free_blocks())
    fail(fmt::format("{} host blocks held by tables, {} used in the swap space", host_used.size(),
                     swap_.num_blocks() - swap_.num_free_blocks()));
}

}  // namespace tessera::kv
