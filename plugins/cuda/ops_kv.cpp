// The CUDA plugin's kv_cache_write and kv_cache_read on the CPU plugin's block layout (see
// kv_cache.cu). Validation mirrors the CPU plugin's (plugins/cpu/ops_kv.cpp: same checks,
// same messages) plus require_device for every tensor and the cache, except that the slot
// values live in device memory and are never read here: kv_cache_write skips a slot outside
// the cache (negative ones are padding by contract), kv_cache_read writes zeros for one.
// The KV dtype (F32, F16, BF16) may differ from the activation dtype; values convert.
#include <cstdint>

#include "cuda_ops.h"
#include "elementwise_kernels.h"

namespace tsr::cuda::ops {
namespace {

// Kernels access elements at their natural alignment; a view whose offset breaks it would
// fault on the device, so it is refused here (the CPU plugin has no such constraint).
void require_aligned(const View& v, const char* op, const char* field) {
  TSR_PLUGIN_CHECK_ARG(reinterpret_cast<uintptr_t>(v.data) % v.elem == 0,
                       "%s: %s: offset is not a multiple of its %zu-byte element size", op, field,
                       v.elem);
}

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

void require_device_cache(tsr_stream_s* stream, tsr_buffer_t cache, const char* op) {
  tsr_tensor t{};
  t.struct_size = sizeof t;
  t.buffer = cache;
  require_device(stream, t, op, "cache");
}

KvCacheArgs kv_args(const KvTensors& t, tsr_buffer_t cache, const tsr_kv_layout& layout,
                    int64_t num_blocks) {
  KvCacheArgs args{};
  args.cache = cache->ptr;
  args.key = t.key.data;
  args.value = t.value.data;
  args.slots = t.slots.as<const int64_t>();
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
  check_kv_cache(prm.layout, prm.cache, prm.num_blocks, op);
  TSR_PLUGIN_CHECK_ARG(prm.cache != nullptr, "%s: cache is NULL", op);
  require_device_cache(stream, prm.cache, op);
  const KvTensors t =
      check_kv_tensors(stream, prm.key, prm.value, prm.slot_mapping, prm.layout, op);
  if (!execute || t.key.numel == 0) return;
  check(launch_kv_cache_write(t.key.dtype, prm.layout.dtype,
                              kv_args(t, prm.cache, prm.layout, prm.num_blocks), stream->stream),
        "kv_cache_write: kernel launch");
}

void kv_cache_read(tsr_stream_s* stream, const tsr_kv_cache_read_params* p, bool execute) {
  constexpr const char* op = "kv_cache_read";
  const auto& prm = params(p, op);
  check_kv_cache(prm.layout, prm.cache, prm.num_blocks, op);
  TSR_PLUGIN_CHECK_ARG(prm.cache != nullptr, "%s: cache is NULL", op);
  require_device_cache(stream, prm.cache, op);
  const KvTensors t =
      check_kv_tensors(stream, prm.key, prm.value, prm.slot_mapping, prm.layout, op);
  require_no_overlap(t.key, t.value, op, "key", "value");
  if (!execute || t.key.numel == 0) return;
  check(launch_kv_cache_read(t.key.dtype, prm.layout.dtype,
                             kv_args(t, prm.cache, prm.layout, prm.num_blocks), stream->stream),
        "kv_cache_read: kernel launch");
}

}  // namespace tsr::cuda::ops
