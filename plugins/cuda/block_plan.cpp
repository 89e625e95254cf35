// See block_plan.h.
#include "block_plan.h"

#include <algorithm>
#include <utility>

#include "tessera/plugin.hpp"

namespace tsr::gpu {

std::vector<BlockRun> plan_block_runs(const int64_t* src_ids, const int64_t* dst_ids,
                                      int64_t num_pairs, int64_t src_blocks, int64_t dst_blocks,
                                      bool same_buffer) {
  TSR_PLUGIN_CHECK_ARG(num_pairs >= 0, "num_pairs is negative (%lld)",
                       static_cast<long long>(num_pairs));
  if (num_pairs == 0) return {};
  TSR_PLUGIN_CHECK_ARG(src_ids != nullptr && dst_ids != nullptr, "src_ids or dst_ids is NULL");
  std::vector<std::pair<int64_t, int64_t>> pairs(static_cast<size_t>(num_pairs));
  for (int64_t i = 0; i < num_pairs; ++i) {
    TSR_PLUGIN_CHECK_ARG(src_ids[i] >= 0 && src_ids[i] < src_blocks,
                         "src_ids[%lld] = %lld is outside the source's %lld blocks",
                         static_cast<long long>(i), static_cast<long long>(src_ids[i]),
                         static_cast<long long>(src_blocks));
    TSR_PLUGIN_CHECK_ARG(dst_ids[i] >= 0 && dst_ids[i] < dst_blocks,
                         "dst_ids[%lld] = %lld is outside the destination's %lld blocks",
                         static_cast<long long>(i), static_cast<long long>(dst_ids[i]),
                         static_cast<long long>(dst_blocks));
    pairs[static_cast<size_t>(i)] = {src_ids[i], dst_ids[i]};
  }
  std::vector<int64_t> dsts(dst_ids, dst_ids + num_pairs);
  std::sort(dsts.begin(), dsts.end());
  if (const auto dup = std::adjacent_find(dsts.begin(), dsts.end()); dup != dsts.end()) {
    throw sdk::Error(
        TSR_ERROR_CODE_INVALID_ARGUMENT,
        sdk::format("destination block %lld is written twice", static_cast<long long>(*dup)));
  }
  std::sort(pairs.begin(), pairs.end());
  if (same_buffer) {
    for (const auto& [src, dst] : pairs) {
      TSR_PLUGIN_CHECK_ARG(!std::binary_search(dsts.begin(), dsts.end(), src),
                           "block %lld is both copied from and written to",
                           static_cast<long long>(src));
    }
  }
  std::vector<BlockRun> runs;
  for (const auto& [src, dst] : pairs) {
    if (!runs.empty()) {
      BlockRun& last = runs.back();
      if (last.src + last.count == src && last.dst + last.count == dst) {
        ++last.count;
        continue;
      }
    }
    runs.push_back(BlockRun{src, dst, 1});
  }
  return runs;
}

}  // namespace tsr::gpu
