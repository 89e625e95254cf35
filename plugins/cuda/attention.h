// The paged attention kernels' launch interface, shared by the host code (ops_attention.cpp,
// g++) and attention_prefill.cu / attention_decode.cu (nvcc). Everything here is host-known:
// pointers, shapes and params validated by ops_attention.cpp. The index tensors
// (query_start_loc, seq_lens, block_tables) live on the device and are only read by the
// kernels, which clamp every value they take from them.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "tessera/plugin.h"

namespace tsr::cuda {

// Largest head_dim the kernels take; any multiple of 8 up to it is supported.
inline constexpr int kAttentionMaxHeadDim = 256;

struct PagedAttentionArgs {
  const void* query;  // [tokens, num_query_heads, head_dim] of act_dtype
  void* out;          // same shape and dtype as query
  tsr_dtype act_dtype;
  const void* cache;  // num_blocks blocks of kv_block_bytes (plugins/cpu/kv_layout.h layout)
  tsr_dtype kv_dtype;
  int64_t num_blocks;
  const int32_t* query_start_loc;  // [num_seqs + 1]
  const int32_t* seq_lens;         // [num_seqs]
  const int32_t* block_tables;     // [num_seqs, max_blocks_per_seq]
  int64_t max_blocks_per_seq;
  int32_t num_seqs;  // > 0
  int32_t tokens;    // > 0
  int32_t num_query_heads;
  int32_t num_kv_heads;
  int32_t head_dim;  // multiple of 8, <= kAttentionMaxHeadDim
  int32_t block_size;
  float scale;
  int32_t sliding_window;  // 0: off
  float logit_softcap;     // 0: off
};

// Query heads of one GQA group that one decode CTA serves (1, 2, 4 or 8); a group larger
// than 8 is split over several CTAs.
inline int attention_decode_heads_per_cta(int group) {
  return group <= 1 ? 1 : group <= 2 ? 2 : group <= 4 ? 4 : 8;
}

// Scratch the decode kernel needs for num_splits > 1: per (token, query head, split) a
// (max, sum) pair and head_dim unnormalised f32 accumulators.
inline size_t attention_decode_workspace_bytes(int64_t tokens, int64_t query_heads,
                                               int64_t num_splits, int64_t head_dim) {
  if (num_splits <= 1) return 0;
  return static_cast<size_t>(tokens * query_heads * num_splits * (head_dim + 2)) * sizeof(float);
}

// FlashAttention-2 style tiled kernel: any batch; efficient for prefill chunks.
cudaError_t launch_paged_attention_prefill(const PagedAttentionArgs& args, cudaStream_t stream);

// One query row per CTA (with its GQA group), split over num_splits (1..kAttentionMaxSplits)
// contiguous ranges of the context, then merged. Any batch; efficient for decode rows.
// `workspace` holds attention_decode_workspace_bytes() bytes (unused when num_splits == 1).
inline constexpr int kAttentionMaxSplits = 32;
cudaError_t launch_paged_attention_decode(const PagedAttentionArgs& args, int num_splits,
                                          void* workspace, cudaStream_t stream);

}  // namespace tsr::cuda
