// SwapSpace implementation.
#include "kv/swap_space.h"

#include <algorithm>

#include "common/check.h"

namespace tessera::kv {

SwapSpace::SwapSpace(int num_blocks)
    : num_blocks_(num_blocks), used_(static_cast<std::size_t>(std::max(num_blocks, 0)), false) {
  TSR_CHECK(num_blocks >= 0, "swap space block count must be >= 0, got {}", num_blocks);
  free_.reserve(used_.size());
  for (BlockId id = num_blocks - 1; id >= 0; --id) free_.push_back(id);
}

bool SwapSpace::is_used(BlockId id) const {
  return id >= 0 && id < num_blocks_ && used_[static_cast<std::size_t>(id)];
}

std::vector<BlockId> SwapSpace::allocate(int n) {
  TSR_CHECK_KIND(n >= 0 && n <= num_free_blocks(), ErrorKind::kInternal,
                 "cannot allocate {} host swap blocks, {} free", n, num_free_blocks());
  std::vector<BlockId> out(free_.end() - n, free_.end());
  free_.resize(free_.size() - static_cast<std::size_t>(n));
  std::reverse(out.begin(), out.end());
  for (BlockId id : out) used_[static_cast<std::size_t>(id)] = true;
  return out;
}

void SwapSpace::free(const std::vector<BlockId>& ids) {
  for (BlockId id : ids) {
    TSR_CHECK_KIND(is_used(id), ErrorKind::kInternal, "double free of host swap block {}", id);
    used_[static_cast<std::size_t>(id)] = false;
    free_.push_back(id);
  }
}

}  // namespace tessera::kv
