// Planning of KV block copies: validation of (src, dst) block id pairs and their merge
// into contiguous runs, so copy_blocks and swap_blocks issue one copy per run. Shared by the
// CUDA and XPU plugins (library tessera_gpu_block_plan). Pure host
// code (no CUDA), tested without a GPU.
#pragma once

#include <cstdint>
#include <vector>

namespace tsr::gpu {

struct BlockRun {
  int64_t src;    // first source block
  int64_t dst;    // first destination block
  int64_t count;  // consecutive blocks in both
};

// Throws sdk::Error(INVALID_ARGUMENT) naming the pair when an id is out of range, a
// destination block repeats, or (same_buffer) a block is both read and written, since the
// copies run in no particular order. Runs come sorted by source block.
std::vector<BlockRun> plan_block_runs(const int64_t* src_ids, const int64_t* dst_ids,
                                      int64_t num_pairs, int64_t src_blocks, int64_t dst_blocks,
                                      bool same_buffer);

}  // namespace tsr::gpu
