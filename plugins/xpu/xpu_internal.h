// Internals shared by the XPU plugin's translation units: handle structs behind the ABI's
// opaque types, the device registry filled by initialize, and Level Zero error mapping.
//
// Ownership: each handle is new'ed by its create call and deleted by its destroy call. A
// stream is an immediate command list plus a host-visible event used to wait for it; every
// ABI call appends a barrier after its commands, because Level Zero does not promise that
// commands of one list run one after another without barriers or events.
// Nothing here has run on Intel hardware yet (docs/xpu-plugin.md lists what is unverified).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "tessera/plugin.hpp"
#include "ze_loader.h"

namespace tsr::xpu {

struct XpuDevice {
  ze_driver_handle_t driver = nullptr;
  ze_device_handle_t device = nullptr;
  ze_context_handle_t context = nullptr;
  uint32_t compute_ordinal = 0;
  ze_device_properties_t props{};
  uint64_t total_memory = 0;
  // Device bytes this plugin holds: Level Zero core has no free-memory query, so
  // device_memory_info reports total minus this (other processes' use is not seen).
  mutable std::atomic<uint64_t> allocated{0};
};

sdk::Host& host();
const ZeLoader& ze();

// Throws sdk::Error naming `what` when rc is not ZE_RESULT_SUCCESS.
void check(ze_result_t rc, const char* what);

// The device registry (filled once by initialize); throws NOT_FOUND for a bad index.
const XpuDevice& device_at(int32_t index);

}  // namespace tsr::xpu

struct tsr_device_s {
  const tsr::xpu::XpuDevice* dev;
  int32_t index;
};

struct tsr_buffer_s {
  tsr_device_s* device;
  void* ptr;  // nullptr for a zero-byte buffer
  size_t bytes;
  tsr_buffer_kind kind;
};

struct tsr_stream_s {
  tsr_device_s* device;
  ze_command_list_handle_t list;
  ze_event_pool_handle_t pool;
  ze_event_handle_t done;  // signalled by the barrier that stream_synchronize appends
};

struct tsr_event_s {
  tsr_device_s* device;
  ze_event_pool_handle_t pool;
  ze_event_handle_t event;
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

// xpu_diagnose.cpp
tsr_error* diagnose(const tsr_diag_sink* sink);

}  // namespace tsr::xpu
