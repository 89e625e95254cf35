// copy_blocks and swap_blocks of the CUDA plugin: whole KV blocks moved as bytes.
//
// Pairs are validated and merged into contiguous runs (block_plan.h). A few runs become one
// cudaMemcpyAsync each; many scattered blocks (copy-on-write after a wide fork) become
// launches of the block copy kernel, up to kBlockCopyMaxPairs pairs per launch, because a
// memcpy per block costs microseconds of launch overhead each. Swap crosses PCIe, where a
// memcpy per run already runs at link speed.
#include <algorithm>

#include "block_copy.h"
#include "block_plan.h"
#include "cuda_internal.h"

namespace tsr::cuda {
namespace {

using gpu::BlockRun;
using gpu::plan_block_runs;

// Up to this many runs, plain copies beat a kernel launch.
constexpr size_t kMaxMemcpyRuns = 8;

int64_t block_count(const tsr_buffer_s* buffer, size_t block_bytes) {
  return static_cast<int64_t>(buffer->bytes / block_bytes);
}

void copy_with_kernel(const std::vector<BlockRun>& runs, const tsr_buffer_s* src,
                      const tsr_buffer_s* dst, size_t block_bytes, cudaStream_t stream) {
  BlockCopyBatch batch{};
  batch.src = static_cast<const unsigned char*>(src->ptr);
  batch.dst = static_cast<unsigned char*>(dst->ptr);
  batch.block_bytes = block_bytes;
  auto flush = [&] {
    if (batch.count == 0) return;
    check(launch_block_copy(batch, stream), "block copy kernel launch");
    batch.count = 0;
  };
  for (const BlockRun& run : runs) {
    for (int64_t k = 0; k < run.count; ++k) {
      batch.src_ids[batch.count] = static_cast<int32_t>(run.src + k);
      batch.dst_ids[batch.count] = static_cast<int32_t>(run.dst + k);
      if (++batch.count == kBlockCopyMaxPairs) flush();
    }
  }
  flush();
}

}  // namespace

tsr_error* copy_blocks(tsr_stream_t stream, const tsr_copy_blocks_params* p) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(stream != nullptr && p != nullptr,
                         "copy_blocks: stream or params is NULL");
    TSR_PLUGIN_CHECK_ARG(TSR_STRUCT_HAS(p, tsr_copy_blocks_params, num_pairs),
                         "copy_blocks: struct_size too small");
    TSR_PLUGIN_CHECK_ARG(p->src != nullptr && p->dst != nullptr, "copy_blocks: src or dst is NULL");
    TSR_PLUGIN_CHECK_ARG(
        p->src->kind == TSR_BUFFER_KIND_DEVICE && p->dst->kind == TSR_BUFFER_KIND_DEVICE,
        "copy_blocks: src and dst must be device buffers");
    TSR_PLUGIN_CHECK_ARG(p->src->device->index == stream->device->index &&
                             p->dst->device->index == stream->device->index,
                         "copy_blocks: buffers and stream must be on one device");
    TSR_PLUGIN_CHECK_ARG(p->block_bytes > 0, "copy_blocks: block_bytes is 0");
    const std::vector<BlockRun> runs =
        plan_block_runs(p->src_ids, p->dst_ids, p->num_pairs, block_count(p->src, p->block_bytes),
                        block_count(p->dst, p->block_bytes), p->src == p->dst);
    if (runs.empty()) return;
    set_device(stream->device);
    const bool ids_fit_int32 = std::all_of(runs.begin(), runs.end(), [](const BlockRun& r) {
      return r.src + r.count <= INT32_MAX && r.dst + r.count <= INT32_MAX;
    });
    if (runs.size() > kMaxMemcpyRuns && ids_fit_int32) {
      copy_with_kernel(runs, p->src, p->dst, p->block_bytes, stream->stream);
      return;
    }
    const auto* src = static_cast<const char*>(p->src->ptr);
    auto* dst = static_cast<char*>(p->dst->ptr);
    for (const BlockRun& run : runs) {
      check(cudaMemcpyAsync(dst + run.dst * p->block_bytes, src + run.src * p->block_bytes,
                            run.count * p->block_bytes, cudaMemcpyDeviceToDevice, stream->stream),
            "cudaMemcpyAsync (copy_blocks)");
    }
  });
}

tsr_error* swap_blocks(tsr_stream_t stream, const tsr_swap_blocks_params* p) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(stream != nullptr && p != nullptr,
                         "swap_blocks: stream or params is NULL");
    TSR_PLUGIN_CHECK_ARG(TSR_STRUCT_HAS(p, tsr_swap_blocks_params, num_pairs),
                         "swap_blocks: struct_size too small");
    TSR_PLUGIN_CHECK_ARG(p->device_buffer != nullptr && p->host_buffer != nullptr,
                         "swap_blocks: device_buffer or host_buffer is NULL");
    TSR_PLUGIN_CHECK_ARG(p->device_buffer->kind == TSR_BUFFER_KIND_DEVICE,
                         "swap_blocks: device_buffer is not a device buffer");
    TSR_PLUGIN_CHECK_ARG(p->host_buffer->kind == TSR_BUFFER_KIND_HOST_PINNED,
                         "swap_blocks: host_buffer must be TSR_BUFFER_KIND_HOST_PINNED");
    TSR_PLUGIN_CHECK_ARG(p->device_buffer->device->index == stream->device->index,
                         "swap_blocks: device_buffer and stream must be on one device");
    TSR_PLUGIN_CHECK_ARG(
        p->direction == TSR_SWAP_DIRECTION_OUT || p->direction == TSR_SWAP_DIRECTION_IN,
        "swap_blocks: unknown direction %d", static_cast<int>(p->direction));
    TSR_PLUGIN_CHECK_ARG(p->block_bytes > 0, "swap_blocks: block_bytes is 0");
    const bool out = p->direction == TSR_SWAP_DIRECTION_OUT;
    const tsr_buffer_s* src = out ? p->device_buffer : p->host_buffer;
    const tsr_buffer_s* dst = out ? p->host_buffer : p->device_buffer;
    const std::vector<BlockRun> runs =
        plan_block_runs(p->src_ids, p->dst_ids, p->num_pairs, block_count(src, p->block_bytes),
                        block_count(dst, p->block_bytes), false);
    if (runs.empty()) return;
    set_device(stream->device);
    const cudaMemcpyKind kind = out ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice;
    for (const BlockRun& run : runs) {
      check(cudaMemcpyAsync(static_cast<char*>(dst->ptr) + run.dst * p->block_bytes,
                            static_cast<const char*>(src->ptr) + run.src * p->block_bytes,
                            run.count * p->block_bytes, kind, stream->stream),
            "cudaMemcpyAsync (swap_blocks)");
    }
  });
}

}  // namespace tsr::cuda
