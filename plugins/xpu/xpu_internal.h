// Internals shared by the XPU plugin's translation units: handle structs behind the ABI's
// opaque types and the runtime chosen by initialize (xpu_runtime.h).
//
// Ownership: each handle is new'ed by its create call and deleted by its destroy call.
// Buffers get a unique synthetic address range (`address`) that tensor validation
// (plugins/common/tensor_check.h) uses for bounds and overlap checks; the memory itself is
// reached through the runtime's handle (`mem`) and a byte offset, so the same checks serve
// Level Zero pointers and OpenCL buffer objects.
// Nothing here has run on Intel hardware yet (docs/xpu-plugin.md lists what is unverified).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "tessera/plugin.hpp"
#include "xpu_runtime.h"

namespace tsr::xpu {

sdk::Host& host();

// The runtime picked by initialize; throws FAILED_PRECONDITION before initialize.
Runtime& runtime();

struct DeviceState {
  int index = 0;
  uint64_t total_memory = 0;
  // Device bytes this plugin holds: neither runtime reports free memory, so
  // device_memory_info gives total minus this (other processes' use is not seen).
  std::atomic<uint64_t> allocated{0};
};

// The device's state; throws NOT_FOUND for a bad index.
DeviceState& device_at(int32_t index);

}  // namespace tsr::xpu

struct tsr_device_s {
  tsr::xpu::DeviceState* dev;
  int32_t index;
};

struct tsr_buffer_s {
  tsr_device_s* device;
  tsr::xpu::RtMem mem;     // nullptr for a zero-byte buffer
  unsigned char* address;  // synthetic, for validation only: never dereferenced
  void* host;              // host address of a HOST_PINNED buffer
  size_t bytes;
  tsr_buffer_kind kind;
};

struct tsr_stream_s {
  tsr_device_s* device;
  tsr::xpu::RtQueue queue;
  // Scratch device memory of ops that need it (sample), grown on demand, freed with the stream.
  tsr::xpu::RtMem workspace = nullptr;
  size_t workspace_bytes = 0;
};

// A prepacked weight: the canonical layout of plugin.h uploaded unchanged (kernels/linear.cl
// dequantizes on the fly), plus its f32 scales for the quantized formats and its f32 mins
// for the asymmetric ones.
struct tsr_weight_s {
  uint32_t magic;
  tsr_device_s* device;
  tsr_weight_format format;
  int64_t rows;  // N
  int64_t cols;  // K
  int64_t group_size;
  tsr::xpu::RtMem data;
  tsr::xpu::RtMem scales;  // nullptr for f32/f16/bf16
  tsr::xpu::RtMem mins;    // [rows][cols / group_size] for the *_GROUP_ASYM formats, else nullptr
  uint64_t bytes;
};

struct tsr_event_s {
  tsr_device_s* device;
  tsr::xpu::RtEvent event;
};

namespace tsr::xpu {

// xpu_memory.cpp
tsr_error* buffer_alloc(tsr_device_t device, size_t bytes, tsr_buffer_kind kind, tsr_buffer_t* out);
tsr_error* buffer_free(tsr_buffer_t buffer);
tsr_error* buffer_host_ptr(tsr_buffer_t buffer, void** out);
tsr_error* stream_create(tsr_device_t device, tsr_stream_t* out);
tsr_error* stream_destroy(tsr_stream_t stream);
tsr_error* stream_synchronize(tsr_stream_t stream);
tsr_error* event_create(tsr_device_t device, tsr_event_t* out);
tsr_error* event_destroy(tsr_event_t event);
tsr_error* event_record(tsr_event_t event, tsr_stream_t stream);
tsr_error* event_synchronize(tsr_event_t event);
tsr_error* stream_wait_event(tsr_stream_t stream, tsr_event_t event);
tsr_error* event_elapsed_ms(tsr_event_t start, tsr_event_t end, float* ms);
tsr_error* memcpy_h2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, const void* src,
                      size_t bytes);
tsr_error* memcpy_d2h(tsr_stream_t stream, void* dst, tsr_buffer_t src, size_t src_offset,
                      size_t bytes);
tsr_error* memcpy_d2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, tsr_buffer_t src,
                      size_t src_offset, size_t bytes);
tsr_error* memset_d(tsr_stream_t stream, tsr_buffer_t dst, size_t offset, int value, size_t bytes);
tsr_error* copy_blocks(tsr_stream_t stream, const tsr_copy_blocks_params* p);
tsr_error* swap_blocks(tsr_stream_t stream, const tsr_swap_blocks_params* p);

// xpu_weights.cpp
tsr_error* weight_prepack(tsr_device_t device, const tsr_weight_desc* desc, tsr_weight_t* out);
tsr_error* weight_destroy(tsr_weight_t weight);
tsr_error* weight_bytes(tsr_weight_t weight, uint64_t* bytes);
// Throws INVALID_ARGUMENT naming `what` unless `weight` is one this plugin made.
const tsr_weight_s* check_weight(tsr_weight_t weight, const char* what);

// xpu_ops_table.cpp
const tsr_ops_api* ops_table();
int op_supported(tsr_device_t device, tsr_op_id op, const void* params);

// xpu_diagnose.cpp
tsr_error* diagnose(const tsr_diag_sink* sink);

}  // namespace tsr::xpu
