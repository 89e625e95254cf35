// The XPU plugin's kv_cache_write and kv_cache_read on the CPU plugin's block layout
// (kernels/kv_cache.cl). Validation mirrors the CPU and CUDA plugins' (same checks, same
// messages) plus require_device for every tensor and the cache; slot values live in device
// memory and are never read here: kv_cache_write skips a slot outside the cache (negative
// ones are padding by contract), kv_cache_read writes zeros for one. The KV dtype (F32, F16,
// BF16) may differ from the activation dtype; values convert.
#include <cstdint>

#include "xpu_ops.h"

namespace tsr::xpu::ops {
namespace {

struct KvTensors {
  View key;
  View value;
  View slots;
};

KvTensors check_kv_tensors(tsr_stream_s* stream, const tsr_tensor& key_t, const tsr_tensor& value_t,
                           const tsr_tensor& slots_t, const tsr_kv_layout& layout, const char* op) {
  KvTensors t{view(key_t, op, "key"), view(value_t, op, "value"),
              view(slots_t, op, "slot_mapping")};
  require_device(stream, key_t, op, "key");
  require_device(stream, value_t, op, "value");
  require_device(stream, slots_t, op, "slot_mapping");
  require_activation(t.key, op, "key");
  require_dtype(t.value, t.key.dtype, op, "value");
  require_ndim(t.key, 3, op, "key");
  require_dim(t.key, 1, layout.num_kv_heads, op, "key");
  require_dim(t.key, 2, layout.head_dim, op, "key");
  require_same_shape(t.key, t.value, op, "key", "value");
  require_dtype(t.slots, TSR_DTYPE_I64, op, "slot_mapping");
  require_ndim(t.slots, 1, op, "slot_mapping");
  require_dim(t.slots, 0, t.key.dim(0), op, "slot_mapping");
  require_aligned(t.key, op, "key");
  require_aligned(t.value, op, "value");
  require_aligned(t.slots, op, "slot_mapping");
  return t;
}

void check_cache(tsr_stream_s* stream, const tsr_kv_layout& layout, tsr_buffer_t cache,
                 int64_t num_blocks, const char* op) {
  check_kv_cache(layout, cache, num_blocks, op);
  TSR_PLUGIN_CHECK_ARG(cache != nullptr, "%s: cache is NULL", op);
  tsr_tensor t{};
  t.struct_size = sizeof t;
  t.buffer = cache;
  require_device(stream, t, op, "cache");
}

void launch_kv(tsr_stream_s* stream, const char* kernel, const KvTensors& t,
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
  check_cache(stream, prm.layout, prm.cache, prm.num_blocks, op);
  const KvTensors t =
      check_kv_tensors(stream, prm.key, prm.value, prm.slot_mapping, prm.layout, op);
  if (!execute || t.key.numel == 0) return;
  launch_kv(stream, "xpu_kv_cache_write", t,
            {arg(prm.key), arg(prm.value), arg(prm.slot_mapping), arg_buffer(prm.cache)},
            prm.layout, prm.num_blocks);
}

void kv_cache_read(tsr_stream_s* stream, const tsr_kv_cache_read_params* p, bool execute) {
  constexpr const char* op = "kv_cache_read";
  const auto& prm = params(p, op);
  check_cache(stream, prm.layout, prm.cache, prm.num_blocks, op);
  const KvTensors t =
      check_kv_tensors(stream, prm.key, prm.value, prm.slot_mapping, prm.layout, op);
  require_no_overlap(t.key, t.value, op, "key", "value");
  if (!execute || t.key.numel == 0) return;
  launch_kv(stream, "xpu_kv_cache_read", t,
            {arg(prm.slot_mapping), arg_buffer(prm.cache), arg(prm.key), arg(prm.value)},
            prm.layout, prm.num_blocks);
}

}  // namespace tsr::xpu::ops
