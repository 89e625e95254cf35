// Internals shared by the CUDA plugin's translation units: the handle structs behind the
// ABI's opaque types, error mapping from cudaError_t, and the entry points each file
// contributes to the function table in cuda_plugin.cpp.
//
// Ownership: every handle is new'ed by its create call and deleted by its destroy call; a
// buffer, stream or event points at the device it was made on, which outlives it (the ABI
// requires destroying everything before device_close). Any call that touches the runtime
// first makes the handle's device current on the calling thread, because CUDA's current
// device is per thread and the host may call from any thread.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tessera/plugin.hpp"

struct tsr_device_s {
  int index;
};

struct tsr_buffer_s {
  tsr_device_s* device;
  void* ptr;  // nullptr for a zero-byte buffer
  size_t bytes;
  tsr_buffer_kind kind;
};

// Scratch device memory owned by a stream, for ops that need temporaries (split-KV partial
// results, quantized activations, cuBLASLt workspace). Stream order makes one region safe to
// reuse by every op enqueued on the stream. When a bigger region is needed the old one is
// retired, not freed, until the stream is destroyed: a captured graph may still point at it.
struct StreamWorkspace {
  void* ptr = nullptr;
  size_t bytes = 0;
  std::vector<void*> retired;
};

struct tsr_stream_s {
  tsr_device_s* device;
  cudaStream_t stream;
  StreamWorkspace workspace;
};

struct tsr_event_s {
  tsr_device_s* device;
  cudaEvent_t event;
};

struct tsr_graph_s {
  tsr_device_s* device;
  cudaGraph_t graph;
  cudaGraphExec_t exec;
};

namespace tsr::cuda {

sdk::Host& host();

// Throws sdk::Error naming `what` and the CUDA error when rc is not cudaSuccess.
void check(cudaError_t rc, const char* what);

// Makes `device` current on the calling thread.
void set_device(const tsr_device_s* device);

// What the kernels need to know about a device, read once per device index.
struct DeviceInfo {
  int sm_count = 0;
  int cc_major = 0;  // compute capability
  int cc_minor = 0;
  size_t max_shared_per_block = 0;  // opt-in maximum, bytes
};
const DeviceInfo& device_info(int index);

// Scratch memory of at least `bytes` on the stream's device (see StreamWorkspace), 256-byte
// aligned, valid for work enqueued on this stream. Growing is refused while the stream is
// capturing a graph (allocating would break the capture): warm up eagerly before capturing.
void* stream_workspace(tsr_stream_s* stream, size_t bytes, const char* what);

// Validates a tensor view against its buffer and returns its device address.
void* tensor_address(const tsr_tensor& tensor, const char* name);

// Throws INVALID_ARGUMENT unless [offset, offset + bytes) lies inside the buffer.
void check_range(const tsr_buffer_s* buffer, size_t offset, size_t bytes, const char* name);

// cuda_memory.cpp
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
tsr_error* graph_begin_capture(tsr_stream_t stream);
tsr_error* graph_end_capture(tsr_stream_t stream, tsr_graph_t* out);
tsr_error* graph_launch(tsr_graph_t graph, tsr_stream_t stream);
tsr_error* graph_destroy(tsr_graph_t graph);

// cuda_ops_table.cpp: the op table and op_supported.
const tsr_ops_api* ops_table();
int op_supported(tsr_device_t device, tsr_op_id op, const void* params);

// cuda_weights.cpp
tsr_error* weight_prepack(tsr_device_t device, const tsr_weight_desc* desc, tsr_weight_t* out);
tsr_error* weight_destroy(tsr_weight_t weight);
tsr_error* weight_bytes(tsr_weight_t weight, uint64_t* bytes);
// The TSR_WEIGHT_FORMAT_BIT set weight_prepack accepts on this device.
uint32_t weight_formats(int device_index);

// cuda_blocks.cpp
tsr_error* copy_blocks(tsr_stream_t stream, const tsr_copy_blocks_params* p);
tsr_error* swap_blocks(tsr_stream_t stream, const tsr_swap_blocks_params* p);

// cuda_collectives.cpp: nullptr when built without nccl.h.
const tsr_collectives_api* collectives_table();
// Whether libnccl.so.2 loads here (decides TSR_DEVICE_CAP_COLLECTIVES).
bool collectives_available();

// cuda_diagnose.cpp
tsr_error* diagnose(const tsr_diag_sink* sink);

}  // namespace tsr::cuda
