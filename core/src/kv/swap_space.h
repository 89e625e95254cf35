// SwapSpace: bookkeeping of the host (CPU) block pool that preempted requests are swapped
// into. Host blocks have the same byte size as device blocks; a swap is a whole-block copy the
// runner performs from the (src, dst) pairs of the plan. No caching, no sharing: a host block
// belongs to at most one swapped request.
#pragma once

#include <vector>

#include "kv/block_hash.h"

namespace tessera::kv {

class SwapSpace {
 public:
  // num_blocks may be 0: no swap space, so preemption always recomputes.
  explicit SwapSpace(int num_blocks);

  int num_blocks() const { return num_blocks_; }
  int num_free_blocks() const { return static_cast<int>(free_.size()); }
  bool is_used(BlockId id) const;

  // n host blocks; throws if fewer are free.
  std::vector<BlockId> allocate(int n);
  // Returns host blocks; throws on a double free or a foreign id.
  void free(const std::vector<BlockId>& ids);

 private:
  int num_blocks_;
  std::vector<BlockId> free_;  // stack, popped from the back
  std::vector<bool> used_;
};

}  // namespace tessera::kv
