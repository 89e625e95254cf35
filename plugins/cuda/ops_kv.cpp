// The CUDA plugin's kv_cache_write and kv_cache_read on the CPU plugin's block layout (see
// kv_cache.cu). Validation is plugins/common/op_checks.h's (shared with the other
// plugins) plus residency and alignment for every tensor and the cache, except that the slot
// values live in device memory and are never read here: kv_cache_write skips a slot outside
// the cache (negative ones are padding by contract), kv_cache_read writes zeros for one.
// The KV dtype (F32, F16, BF16) may differ from the activation dtype; values convert.
#include <cstdint>

#include "cuda_ops.h"
#include "elementwise_kernels.h"

namespace tsr::cuda::ops {
namespace {

KvCacheArgs kv_args(const KvCacheViews& t, tsr_buffer_t cache, const tsr_kv_layout& layout,
                    int64_t num_blocks) {
  KvCacheArgs args{};
  args.cache = cache->ptr;
  args.key = t.key.data;
  args.value = t.value.data;
  args.slots = t.slot_mapping.as<const int64_t>();
  args.tokens = t.key.dim(0);
  args.heads = layout.num_kv_heads;
  args.head_dim = layout.head_dim;
  args.block_size = layout.block_size;
  args.num_slots = num_blocks * layout.block_size;
  return args;
}

}  // namespace

void kv_cache_write(tsr_stream_s* stream, const tsr_kv_cache_write_params* p, bool execute) {
  constexpr const char* op = "kv_cache_write";
  const auto& prm = params(p, op);
  const KvCacheViews t = check_kv_cache_io(prm.layout, prm.cache, prm.num_blocks, prm.key,
                                           prm.value, prm.slot_mapping, false, op);
  require_device_buffer(stream, prm.cache, op, "cache");
  require_on_device(stream, t.tensors, op);
  if (!execute || t.key.numel == 0) return;
  check(launch_kv_cache_write(t.key.dtype, prm.layout.dtype,
                              kv_args(t, prm.cache, prm.layout, prm.num_blocks), stream->stream),
        "kv_cache_write: kernel launch");
}

void kv_cache_read(tsr_stream_s* stream, const tsr_kv_cache_read_params* p, bool execute) {
  constexpr const char* op = "kv_cache_read";
  const auto& prm = params(p, op);
  const KvCacheViews t = check_kv_cache_io(prm.layout, prm.cache, prm.num_blocks, prm.key,
                                           prm.value, prm.slot_mapping, true, op);
  require_device_buffer(stream, prm.cache, op, "cache");
  require_on_device(stream, t.tensors, op);
  if (!execute || t.key.numel == 0) return;
  check(launch_kv_cache_read(t.key.dtype, prm.layout.dtype,
                             kv_args(t, prm.cache, prm.layout, prm.num_blocks), stream->stream),
        "kv_cache_read: kernel launch");
}

}  // namespace tsr::cuda::ops
