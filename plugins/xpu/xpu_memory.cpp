// Buffers, streams, events, copies and KV block copy/swap of the XPU plugin.
//
// Device buffers come from zeMemAllocDevice, pinned host buffers from zeMemAllocHost (USM
// host memory the GPU reads over PCIe). A stream is an immediate command list; every call
// ends with a barrier so work runs in enqueue order as the ABI requires. An h2d copy from
// memory that is not USM host memory is waited for before returning, because the ABI lets
// the caller reuse a pageable source as soon as the call returns.
#include <memory>
#include <vector>

#include "block_plan.h"
#include "xpu_internal.h"

namespace tsr::xpu {
namespace {

constexpr size_t kAlignment = 64;

tsr_stream_s* checked(tsr_stream_t stream, const char* what) {
  TSR_PLUGIN_CHECK_ARG(stream != nullptr, "%s: stream is NULL", what);
  return stream;
}

void check_range(const tsr_buffer_s* buffer, size_t offset, size_t bytes, const char* name) {
  TSR_PLUGIN_CHECK_ARG(buffer != nullptr, "%s: buffer is NULL", name);
  TSR_PLUGIN_CHECK_ARG(offset <= buffer->bytes && bytes <= buffer->bytes - offset,
                       "%s: range [%zu, +%zu) exceeds the buffer's %zu bytes", name, offset, bytes,
                       buffer->bytes);
}

char* address(const tsr_buffer_s* buffer, size_t offset) {
  return static_cast<char*>(buffer->ptr) + offset;
}

void fence(const tsr_stream_s* s) {
  check(ze().zeCommandListAppendBarrier(s->list, nullptr, 0, nullptr),
        "zeCommandListAppendBarrier");
}

void wait(const tsr_stream_s* s) {
  check(ze().zeCommandListAppendBarrier(s->list, s->done, 0, nullptr),
        "zeCommandListAppendBarrier");
  check(ze().zeEventHostSynchronize(s->done, UINT64_MAX), "zeEventHostSynchronize");
  check(ze().zeEventHostReset(s->done), "zeEventHostReset");
}

void append_copy(const tsr_stream_s* s, void* dst, const void* src, size_t bytes) {
  check(ze().zeCommandListAppendMemoryCopy(s->list, dst, src, bytes, nullptr, 0, nullptr),
        "zeCommandListAppendMemoryCopy");
}

bool is_usm_host(const XpuDevice& dev, const void* ptr) {
  ze_memory_allocation_properties_t props{};
  props.stype = ZE_STRUCTURE_TYPE_MEMORY_ALLOCATION_PROPERTIES;
  return ze().zeMemGetAllocProperties(dev.context, ptr, &props, nullptr) == ZE_RESULT_SUCCESS &&
         props.type == ZE_MEMORY_TYPE_HOST;
}

ze_event_pool_handle_t make_pool(const XpuDevice& dev, ze_event_pool_flags_t flags) {
  ze_event_pool_desc_t desc{ZE_STRUCTURE_TYPE_EVENT_POOL_DESC, nullptr, flags, 1};
  ze_device_handle_t device = dev.device;
  ze_event_pool_handle_t pool = nullptr;
  check(ze().zeEventPoolCreate(dev.context, &desc, 1, &device, &pool), "zeEventPoolCreate");
  return pool;
}

ze_event_handle_t make_event(ze_event_pool_handle_t pool) {
  ze_event_desc_t desc{ZE_STRUCTURE_TYPE_EVENT_DESC, nullptr, 0, ZE_EVENT_SCOPE_FLAG_HOST,
                       ZE_EVENT_SCOPE_FLAG_HOST};
  ze_event_handle_t event = nullptr;
  const ze_result_t rc = ze().zeEventCreate(pool, &desc, &event);
  if (rc != ZE_RESULT_SUCCESS) ze().zeEventPoolDestroy(pool);
  check(rc, "zeEventCreate");
  return event;
}

int64_t block_count(const tsr_buffer_s* buffer, size_t block_bytes) {
  return static_cast<int64_t>(buffer->bytes / block_bytes);
}

void copy_runs(const tsr_stream_s* s, const std::vector<gpu::BlockRun>& runs,
               const tsr_buffer_s* src, const tsr_buffer_s* dst, size_t block_bytes) {
  for (const gpu::BlockRun& run : runs) {
    append_copy(s, address(dst, static_cast<size_t>(run.dst) * block_bytes),
                address(src, static_cast<size_t>(run.src) * block_bytes),
                static_cast<size_t>(run.count) * block_bytes);
  }
  fence(s);
}

}  // namespace

tsr_error* buffer_alloc(tsr_device_t device, size_t bytes, tsr_buffer_kind kind,
                        tsr_buffer_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr && out != nullptr, "buffer_alloc: NULL argument");
    TSR_PLUGIN_CHECK_ARG(kind == TSR_BUFFER_KIND_DEVICE || kind == TSR_BUFFER_KIND_HOST_PINNED,
                         "buffer_alloc: unknown buffer kind %d", static_cast<int>(kind));
    const XpuDevice& dev = *device->dev;
    void* ptr = nullptr;
    if (bytes > 0 && kind == TSR_BUFFER_KIND_DEVICE) {
      ze_device_mem_alloc_desc_t desc{ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC, nullptr, 0, 0};
      check(ze().zeMemAllocDevice(dev.context, &desc, bytes, kAlignment, dev.device, &ptr),
            sdk::format("zeMemAllocDevice(%zu bytes)", bytes).c_str());
      dev.allocated += bytes;
    } else if (bytes > 0) {
      ze_host_mem_alloc_desc_t desc{ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC, nullptr, 0};
      check(ze().zeMemAllocHost(dev.context, &desc, bytes, kAlignment, &ptr),
            sdk::format("zeMemAllocHost(%zu bytes)", bytes).c_str());
    }
    *out = new tsr_buffer_s{device, ptr, bytes, kind};
  });
}

tsr_error* buffer_free(tsr_buffer_t buffer) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(buffer != nullptr, "buffer_free: buffer is NULL");
    std::unique_ptr<tsr_buffer_s> owned(buffer);
    if (buffer->ptr == nullptr) return;
    const XpuDevice& dev = *buffer->device->dev;
    check(ze().zeMemFree(dev.context, buffer->ptr), "zeMemFree");
    if (buffer->kind == TSR_BUFFER_KIND_DEVICE) dev.allocated -= buffer->bytes;
  });
}

tsr_error* buffer_host_ptr(tsr_buffer_t buffer, void** out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(buffer != nullptr && out != nullptr, "buffer_host_ptr: NULL argument");
    TSR_PLUGIN_CHECK(buffer->kind == TSR_BUFFER_KIND_HOST_PINNED, TSR_ERROR_CODE_UNIMPLEMENTED,
                     "buffer_host_ptr: XPU device buffers are not host-addressable");
    *out = buffer->ptr;
  });
}

tsr_error* stream_create(tsr_device_t device, tsr_stream_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr && out != nullptr, "stream_create: NULL argument");
    const XpuDevice& dev = *device->dev;
    ze_command_queue_desc_t desc{ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC,
                                 nullptr,
                                 dev.compute_ordinal,
                                 0,
                                 0,
                                 ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS,
                                 ZE_COMMAND_QUEUE_PRIORITY_NORMAL};
    ze_command_list_handle_t list = nullptr;
    check(ze().zeCommandListCreateImmediate(dev.context, dev.device, &desc, &list),
          "zeCommandListCreateImmediate");
    ze_event_pool_handle_t pool = nullptr;
    ze_event_handle_t done = nullptr;
    try {
      pool = make_pool(dev, ZE_EVENT_POOL_FLAG_HOST_VISIBLE);
      done = make_event(pool);
    } catch (...) {
      ze().zeCommandListDestroy(list);
      throw;
    }
    *out = new tsr_stream_s{device, list, pool, done};
  });
}

tsr_error* stream_destroy(tsr_stream_t stream) {
  return sdk::guard([&] {
    std::unique_ptr<tsr_stream_s> owned(checked(stream, "stream_destroy"));
    check(ze().zeEventDestroy(stream->done), "zeEventDestroy");
    check(ze().zeEventPoolDestroy(stream->pool), "zeEventPoolDestroy");
    check(ze().zeCommandListDestroy(stream->list), "zeCommandListDestroy");
  });
}

tsr_error* stream_synchronize(tsr_stream_t stream) {
  return sdk::guard([&] { wait(checked(stream, "stream_synchronize")); });
}

tsr_error* event_create(tsr_device_t device, tsr_event_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr && out != nullptr, "event_create: NULL argument");
    ze_event_pool_handle_t pool = make_pool(
        *device->dev, ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP);
    *out = new tsr_event_s{device, pool, make_event(pool)};
  });
}

tsr_error* event_destroy(tsr_event_t event) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "event_destroy: event is NULL");
    std::unique_ptr<tsr_event_s> owned(event);
    check(ze().zeEventDestroy(event->event), "zeEventDestroy");
    check(ze().zeEventPoolDestroy(event->pool), "zeEventPoolDestroy");
  });
}

tsr_error* event_record(tsr_event_t event, tsr_stream_t stream) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "event_record: event is NULL");
    tsr_stream_s* s = checked(stream, "event_record");
    check(ze().zeCommandListAppendEventReset(s->list, event->event),
          "zeCommandListAppendEventReset");
    // The barrier waits for everything before it, then signals (and timestamps) the event.
    check(ze().zeCommandListAppendBarrier(s->list, event->event, 0, nullptr),
          "zeCommandListAppendBarrier");
  });
}

tsr_error* event_synchronize(tsr_event_t event) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "event_synchronize: event is NULL");
    check(ze().zeEventHostSynchronize(event->event, UINT64_MAX), "zeEventHostSynchronize");
  });
}

tsr_error* stream_wait_event(tsr_stream_t stream, tsr_event_t event) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "stream_wait_event: event is NULL");
    ze_event_handle_t handle = event->event;
    check(ze().zeCommandListAppendWaitOnEvents(checked(stream, "stream_wait_event")->list, 1,
                                               &handle),
          "zeCommandListAppendWaitOnEvents");
  });
}

tsr_error* event_elapsed_ms(tsr_event_t start, tsr_event_t end, float* ms) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(start != nullptr && end != nullptr && ms != nullptr,
                         "event_elapsed_ms: NULL argument");
    const XpuDevice& dev = *start->device->dev;
    ze_kernel_timestamp_result_t a{};
    ze_kernel_timestamp_result_t b{};
    check(ze().zeEventQueryKernelTimestamp(start->event, &a), "zeEventQueryKernelTimestamp");
    check(ze().zeEventQueryKernelTimestamp(end->event, &b), "zeEventQueryKernelTimestamp");
    const uint32_t bits = dev.props.kernelTimestampValidBits;
    const uint64_t mask = bits >= 64 ? ~0ull : ((1ull << bits) - 1);
    const uint64_t ticks = (b.global.kernelEnd - a.global.kernelEnd) & mask;
    // ze_device_properties_t (not the _1_2 variant) gives timerResolution in ns per tick.
    *ms = static_cast<float>(static_cast<double>(ticks) *
                             static_cast<double>(dev.props.timerResolution) / 1e6);
  });
}

tsr_error* memcpy_h2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, const void* src,
                      size_t bytes) {
  return sdk::guard([&] {
    tsr_stream_s* s = checked(stream, "memcpy_h2d");
    check_range(dst, dst_offset, bytes, "memcpy_h2d dst");
    if (bytes == 0) return;
    TSR_PLUGIN_CHECK_ARG(src != nullptr, "memcpy_h2d: src is NULL");
    append_copy(s, address(dst, dst_offset), src, bytes);
    if (is_usm_host(*s->device->dev, src)) {
      fence(s);
    } else {
      wait(s);
    }
  });
}

tsr_error* memcpy_d2h(tsr_stream_t stream, void* dst, tsr_buffer_t src, size_t src_offset,
                      size_t bytes) {
  return sdk::guard([&] {
    tsr_stream_s* s = checked(stream, "memcpy_d2h");
    check_range(src, src_offset, bytes, "memcpy_d2h src");
    if (bytes == 0) return;
    TSR_PLUGIN_CHECK_ARG(dst != nullptr, "memcpy_d2h: dst is NULL");
    append_copy(s, dst, address(src, src_offset), bytes);
    fence(s);
  });
}

tsr_error* memcpy_d2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, tsr_buffer_t src,
                      size_t src_offset, size_t bytes) {
  return sdk::guard([&] {
    tsr_stream_s* s = checked(stream, "memcpy_d2d");
    check_range(dst, dst_offset, bytes, "memcpy_d2d dst");
    check_range(src, src_offset, bytes, "memcpy_d2d src");
    if (bytes == 0) return;
    append_copy(s, address(dst, dst_offset), address(src, src_offset), bytes);
    fence(s);
  });
}

tsr_error* memset_d(tsr_stream_t stream, tsr_buffer_t dst, size_t offset, int value, size_t bytes) {
  return sdk::guard([&] {
    tsr_stream_s* s = checked(stream, "memset_d");
    check_range(dst, offset, bytes, "memset_d dst");
    if (bytes == 0) return;
    const uint8_t pattern = static_cast<uint8_t>(value);
    check(ze().zeCommandListAppendMemoryFill(s->list, address(dst, offset), &pattern, 1, bytes,
                                             nullptr, 0, nullptr),
          "zeCommandListAppendMemoryFill");
    fence(s);
  });
}

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
    TSR_PLUGIN_CHECK_ARG(p->block_bytes > 0, "copy_blocks: block_bytes is 0");
    const auto runs = gpu::plan_block_runs(p->src_ids, p->dst_ids, p->num_pairs,
                                           block_count(p->src, p->block_bytes),
                                           block_count(p->dst, p->block_bytes), p->src == p->dst);
    if (!runs.empty()) copy_runs(stream, runs, p->src, p->dst, p->block_bytes);
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
    TSR_PLUGIN_CHECK_ARG(
        p->direction == TSR_SWAP_DIRECTION_OUT || p->direction == TSR_SWAP_DIRECTION_IN,
        "swap_blocks: unknown direction %d", static_cast<int>(p->direction));
    TSR_PLUGIN_CHECK_ARG(p->block_bytes > 0, "swap_blocks: block_bytes is 0");
    const bool out = p->direction == TSR_SWAP_DIRECTION_OUT;
    const tsr_buffer_s* src = out ? p->device_buffer : p->host_buffer;
    const tsr_buffer_s* dst = out ? p->host_buffer : p->device_buffer;
    const auto runs =
        gpu::plan_block_runs(p->src_ids, p->dst_ids, p->num_pairs, block_count(src, p->block_bytes),
                             block_count(dst, p->block_bytes), false);
    if (!runs.empty()) copy_runs(stream, runs, src, dst, p->block_bytes);
  });
}

}  // namespace tsr::xpu
