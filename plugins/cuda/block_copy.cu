// The batched KV block copy kernel: one thread block per (src, dst) pair, copying 16 bytes
// per thread per step when the block size and bases allow it, bytes otherwise. Pairs
// never write the same block twice and never read a block another pair writes (the host
// checks), so the thread blocks are independent.
#include "block_copy.h"
#include "cuda_dtype.cuh"

namespace tsr::cuda {
namespace {

__global__ void block_copy_kernel(const BlockCopyBatch batch) {
  const int pair = blockIdx.x;
  const unsigned long long bytes = batch.block_bytes;
  const unsigned char* src =
      batch.src + static_cast<unsigned long long>(batch.src_ids[pair]) * bytes;
  unsigned char* dst = batch.dst + static_cast<unsigned long long>(batch.dst_ids[pair]) * bytes;
  const bool vector = (bytes % 16 == 0) && (reinterpret_cast<uintptr_t>(batch.src) % 16 == 0) &&
                      (reinterpret_cast<uintptr_t>(batch.dst) % 16 == 0);
  if (vector) {
    const uint4* in = reinterpret_cast<const uint4*>(src);
    uint4* out = reinterpret_cast<uint4*>(dst);
    for (unsigned long long i = threadIdx.x; i < bytes / 16; i += blockDim.x) out[i] = in[i];
  } else {
    for (unsigned long long i = threadIdx.x; i < bytes; i += blockDim.x) dst[i] = src[i];
  }
}

}  // namespace

cudaError_t launch_block_copy(const BlockCopyBatch& batch, cudaStream_t stream) {
  tsr_cuda_launch(block_copy_kernel, batch.count, 256, 0, stream, batch);
  return cudaGetLastError();
}

}  // namespace tsr::cuda
