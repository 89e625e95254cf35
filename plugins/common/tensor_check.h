// Validation of op parameters shared by the plugins: params struct sizes, tensor views
// (handle, dtype, rank, shape, and that the bytes lie inside the buffer). Every failure
// throws INVALID_ARGUMENT with "<op>: <field>: <what>", which guard() turns into the ABI
// error. Nothing here dereferences tensor data, so it serves device memory as well as host
// memory; each plugin supplies buffer_extent() for its own buffer handles.
#ifndef TESSERA_PLUGINS_COMMON_TENSOR_CHECK_H
#define TESSERA_PLUGINS_COMMON_TENSOR_CHECK_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "tessera/plugin.h"

namespace tsr::plugin {

// Where a buffer handle's bytes are. Defined by each plugin: it validates the handle (throwing
// INVALID_ARGUMENT naming `field` for a foreign or stale one) and returns its address
// (host or device) and size.
struct BufferExtent {
  void* data = nullptr;
  size_t bytes = 0;
};
BufferExtent buffer_extent(tsr_buffer_t buffer, const char* field);

// A validated tensor: its address and shape. Views never own memory.
struct View {
  unsigned char* data = nullptr;
  tsr_dtype dtype = TSR_DTYPE_INVALID;
  int32_t ndim = 0;
  int64_t shape[TSR_MAX_DIMS] = {0, 0, 0, 0};
  int64_t numel = 0;
  size_t elem = 0;

  int64_t dim(int i) const { return shape[i]; }
  int64_t cols() const { return ndim > 0 ? shape[ndim - 1] : 1; }
  int64_t rows() const { return cols() > 0 ? numel / cols() : 0; }
  template <class T>
  T* as() const {
    return reinterpret_cast<T*>(data);
  }
};

// An enum field of an ABI struct as the integer the caller stored. C lets any int through,
// while in C++ reading a value outside the enumeration's range as the enum type is undefined
// (UBSan reports it), so an unknown value is checked in this form before it is used.
template <class E>
int64_t raw_enum_value(const E& field) {
  std::underlying_type_t<E> value;
  std::memcpy(&value, &field, sizeof value);
  return static_cast<int64_t>(value);
}

// Throws unless `p` is non-NULL and p->struct_size covers `size` bytes.
void check_params_size(const void* p, size_t struct_size, size_t size, const char* op);

template <class P>
const P& params(const P* p, const char* op) {
  check_params_size(p, p != nullptr ? p->struct_size : 0, sizeof(P), op);
  return *p;
}

bool present(const tsr_tensor& t);

// The view of a tensor that must be present.
View view(const tsr_tensor& t, const char* op, const char* field);

bool is_activation_dtype(tsr_dtype dtype);
void require_dtype(const View& v, tsr_dtype dtype, const char* op, const char* field);
void require_activation(const View& v, const char* op, const char* field);
void require_ndim(const View& v, int32_t ndim, const char* op, const char* field);
void require_dim(const View& v, int axis, int64_t size, const char* op, const char* field);
void require_same_shape(const View& a, const View& b, const char* op, const char* field_a,
                        const char* field_b);
// Throws unless the view's address is a multiple of its element size. Device kernels load
// elements at their natural alignment, so a misaligned view would fault there; the CPU
// plugin reads any address and does not call this.
void require_aligned(const View& v, const char* op, const char* field);
// Throws when the two views' byte ranges overlap (an output aliasing an input).
void require_no_overlap(const View& a, const View& b, const char* op, const char* field_a,
                        const char* field_b);

// Validates a KV layout and a cache buffer of num_blocks blocks; returns the block bytes.
size_t check_kv_cache(const tsr_kv_layout& layout, tsr_buffer_t cache, int64_t num_blocks,
                      const char* op);
size_t kv_block_bytes_of(const tsr_kv_layout& layout);

}  // namespace tsr::plugin

#endif  // TESSERA_PLUGINS_COMMON_TENSOR_CHECK_H
