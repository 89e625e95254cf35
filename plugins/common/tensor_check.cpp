// Parameter and tensor validation (see tensor_check.h).
#include "tensor_check.h"

#include <string>

#include "tessera/plugin.hpp"

namespace tsr::plugin {

using tsr::sdk::dtype_name;
using tsr::sdk::format;

void check_params_size(const void* p, size_t struct_size, size_t size, const char* op) {
  TSR_PLUGIN_CHECK_ARG(p != nullptr, "%s: params is NULL", op);
  TSR_PLUGIN_CHECK_ARG(struct_size >= size,
                       "%s: params.struct_size is %zu, this plugin needs at least %zu", op,
                       struct_size, size);
}

bool present(const tsr_tensor& t) {
  return t.buffer != nullptr;
}

View view(const tsr_tensor& t, const char* op, const char* field) {
  TSR_PLUGIN_CHECK_ARG(t.buffer != nullptr, "%s: %s: tensor is required (buffer is NULL)", op,
                       field);
  TSR_PLUGIN_CHECK_ARG(t.struct_size >= sizeof(tsr_tensor),
                       "%s: %s: struct_size is %zu, expected at least %zu", op, field,
                       t.struct_size, sizeof(tsr_tensor));
  const BufferExtent buffer = buffer_extent(t.buffer, field);
  View v;
  v.dtype = t.dtype;
  v.elem = tsr::sdk::dtype_size(t.dtype);
  TSR_PLUGIN_CHECK_ARG(v.elem != 0, "%s: %s: invalid dtype %d", op, field,
                       static_cast<int>(t.dtype));
  TSR_PLUGIN_CHECK_ARG(t.ndim >= 1 && t.ndim <= TSR_MAX_DIMS, "%s: %s: ndim %d not in [1, %d]", op,
                       field, t.ndim, TSR_MAX_DIMS);
  v.ndim = t.ndim;
  int64_t numel = 1;
  for (int i = 0; i < t.ndim; ++i) {
    TSR_PLUGIN_CHECK_ARG(t.shape[i] >= 0 && t.shape[i] < (int64_t{1} << 40),
                         "%s: %s: shape[%d] = %lld is out of range", op, field, i,
                         static_cast<long long>(t.shape[i]));
    v.shape[i] = t.shape[i];
    numel *= t.shape[i];
    TSR_PLUGIN_CHECK_ARG(numel < (int64_t{1} << 48), "%s: %s: too many elements", op, field);
  }
  v.numel = numel;
  const size_t bytes = static_cast<size_t>(numel) * v.elem;
  TSR_PLUGIN_CHECK_ARG(t.offset <= buffer.bytes && bytes <= buffer.bytes - t.offset,
                       "%s: %s: %zu bytes at offset %zu exceed the buffer's %zu bytes", op, field,
                       bytes, t.offset, buffer.bytes);
  v.data = static_cast<unsigned char*>(buffer.data) + t.offset;
  return v;
}

void require_aligned(const View& v, const char* op, const char* field) {
  TSR_PLUGIN_CHECK_ARG(reinterpret_cast<uintptr_t>(v.data) % v.elem == 0,
                       "%s: %s: offset is not a multiple of its %zu-byte element size", op, field,
                       v.elem);
}

bool is_activation_dtype(tsr_dtype dtype) {
  return dtype == TSR_DTYPE_F32 || dtype == TSR_DTYPE_BF16 || dtype == TSR_DTYPE_F16;
}

void require_dtype(const View& v, tsr_dtype dtype, const char* op, const char* field) {
  TSR_PLUGIN_CHECK_ARG(v.dtype == dtype, "%s: %s: dtype is %s, expected %s", op, field,
                       dtype_name(v.dtype), dtype_name(dtype));
}

void require_activation(const View& v, const char* op, const char* field) {
  TSR_PLUGIN_CHECK_ARG(is_activation_dtype(v.dtype),
                       "%s: %s: dtype %s is not an activation dtype (f32, bf16, f16)", op, field,
                       dtype_name(v.dtype));
}

void require_ndim(const View& v, int32_t ndim, const char* op, const char* field) {
  TSR_PLUGIN_CHECK_ARG(v.ndim == ndim, "%s: %s: ndim is %d, expected %d", op, field, v.ndim, ndim);
}

void require_dim(const View& v, int axis, int64_t size, const char* op, const char* field) {
  TSR_PLUGIN_CHECK_ARG(axis < v.ndim && v.shape[axis] == size,
                       "%s: %s: shape[%d] is %lld, expected %lld", op, field, axis,
                       static_cast<long long>(axis < v.ndim ? v.shape[axis] : -1),
                       static_cast<long long>(size));
}

void require_same_shape(const View& a, const View& b, const char* op, const char* field_a,
                        const char* field_b) {
  bool same = a.ndim == b.ndim;
  for (int i = 0; same && i < a.ndim; ++i) same = a.shape[i] == b.shape[i];
  TSR_PLUGIN_CHECK_ARG(same, "%s: %s and %s must have the same shape", op, field_a, field_b);
}

void require_no_overlap(const View& a, const View& b, const char* op, const char* field_a,
                        const char* field_b) {
  const unsigned char* a_end = a.data + static_cast<size_t>(a.numel) * a.elem;
  const unsigned char* b_end = b.data + static_cast<size_t>(b.numel) * b.elem;
  const bool disjoint = a.numel == 0 || b.numel == 0 || a_end <= b.data || b_end <= a.data;
  TSR_PLUGIN_CHECK_ARG(disjoint, "%s: %s may not alias %s", op, field_a, field_b);
}

size_t kv_block_bytes_of(const tsr_kv_layout& layout) {
  return 2 * static_cast<size_t>(layout.num_kv_heads) * static_cast<size_t>(layout.block_size) *
         static_cast<size_t>(layout.head_dim) * tsr::sdk::dtype_size(layout.dtype);
}

size_t check_kv_cache(const tsr_kv_layout& layout, tsr_buffer_t cache, int64_t num_blocks,
                      const char* op) {
  TSR_PLUGIN_CHECK_ARG(layout.struct_size >= sizeof(tsr_kv_layout),
                       "%s: layout.struct_size is %zu, expected at least %zu", op,
                       layout.struct_size, sizeof(tsr_kv_layout));
  TSR_PLUGIN_CHECK_ARG(layout.num_kv_heads > 0 && layout.num_kv_heads <= 4096,
                       "%s: layout.num_kv_heads %d out of range", op, layout.num_kv_heads);
  TSR_PLUGIN_CHECK_ARG(layout.head_dim > 0 && layout.head_dim <= 4096,
                       "%s: layout.head_dim %d out of range", op, layout.head_dim);
  TSR_PLUGIN_CHECK_ARG(layout.block_size > 0 && layout.block_size <= 4096,
                       "%s: layout.block_size %d out of range", op, layout.block_size);
  TSR_PLUGIN_CHECK_ARG(is_activation_dtype(layout.dtype),
                       "%s: layout.dtype %s is not a KV cache dtype of this plugin (f32, bf16, "
                       "f16)",
                       op, dtype_name(layout.dtype));
  const size_t block_bytes = kv_block_bytes_of(layout);
  if (cache == nullptr) return block_bytes;
  const BufferExtent buffer = buffer_extent(cache, "cache");
  TSR_PLUGIN_CHECK_ARG(num_blocks > 0, "%s: num_blocks %lld must be positive", op,
                       static_cast<long long>(num_blocks));
  TSR_PLUGIN_CHECK_ARG(static_cast<uint64_t>(num_blocks) <= buffer.bytes / block_bytes,
                       "%s: cache: %lld blocks of %zu bytes exceed the buffer's %zu bytes", op,
                       static_cast<long long>(num_blocks), block_bytes, buffer.bytes);
  return block_bytes;
}

}  // namespace tsr::plugin
