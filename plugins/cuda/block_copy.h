// The batched KV block copy kernel's launch interface, shared by the host code (g++) and
// block_copy.cu (nvcc). A batch travels as the kernel's by-value parameter, so copying many
// blocks needs no upload of the block ids and no scratch memory; kBlockCopyMaxPairs keeps
// the parameter under the classic 4 KiB kernel-parameter limit.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace tsr::cuda {

inline constexpr int kBlockCopyMaxPairs = 480;

struct BlockCopyBatch {
  const unsigned char* src;  // base of the source buffer
  unsigned char* dst;        // base of the destination buffer
  unsigned long long block_bytes;
  int count;  // pairs used in this batch, 1..kBlockCopyMaxPairs
  int32_t src_ids[kBlockCopyMaxPairs];
  int32_t dst_ids[kBlockCopyMaxPairs];
};

// One launch: block dst_ids[i] of dst = block src_ids[i] of src for i < count.
cudaError_t launch_block_copy(const BlockCopyBatch& batch, cudaStream_t stream);

}  // namespace tsr::cuda
