// The XPU plugin's kv_cache_write and kv_cache_read on the CPU plugin's block layout
// (kernels/kv_cache.cl). Validation is plugins/common/op_checks.h's (shared with the other
// plugins) plus residency and alignment for every tensor and the cache; slot values live in
// device memory and are never read here: kv_cache_write skips a slot outside the cache
// (negative ones are padding by contract), kv_cache_read writes zeros for one. The KV dtype
// (F32, F16, BF16) may differ from the activation dtype; values convert.
#include <cstdint>

#include "xpu_ops.h"

namespace tsr::xpu::ops {
namespace {

void launch_kv(tsr_stream_s* stream, const char* kernel, const KvCacheViews& t,
               std::initializer_list<KernelArg> buffers, const tsr_kv_layout& layout,
               int64_t num_blocks) {
  const int64_t tokens = t.key.dim(0);
  const int32_t heads = layout.num_kv_heads;
  const int32_t dim = layout.head_dim;
  const int32_t block_size = layout.block_size;
  const int32_t act = t.key.dtype;
  const int32_t cache_dtype = layout.dtype;
  const auto b = buffers.begin();
  launch(stream, kernel,
         {b[0], b[1], b[2], b[3], KernelArg::scalar(tokens), KernelArg::scalar(heads),
          KernelArg::scalar(dim), KernelArg::scalar(block_size), KernelArg::scalar(num_blocks),
          KernelArg::scalar(act), KernelArg::scalar(cache_dtype)},
         {groups_for(dim, 64), static_cast<size_t>(heads), static_cast<size_t>(tokens)},
         {64, 1, 1});
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
  launch_kv(stream, "xpu_kv_cache_write", t,
            {arg(prm.key), arg(prm.value), arg(prm.slot_mapping), arg_buffer(prm.cache)},
            prm.layout, prm.num_blocks);
}

void kv_cache_read(tsr_stream_s* stream, const tsr_kv_cache_read_params* p, bool execute) {
  constexpr const char* op = "kv_cache_read";
  const auto& prm = params(p, op);
  const KvCacheViews t = check_kv_cache_io(prm.layout, prm.cache, prm.num_blocks, prm.key,
                                           prm.value, prm.slot_mapping, true, op);
  require_device_buffer(stream, prm.cache, op, "cache");
  require_on_device(stream, t.tensors, op);
  if (!execute || t.key.numel == 0) return;
  launch_kv(stream, "xpu_kv_cache_read", t,
            {arg(prm.slot_mapping), arg_buffer(prm.cache), arg(prm.key), arg(prm.value)},
            prm.layout, prm.num_blocks);
}

}  // namespace tsr::xpu::ops
