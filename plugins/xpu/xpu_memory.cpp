// Buffers, streams, events, copies and KV block copy/swap of the XPU plugin, over the
// runtime chosen at initialize (xpu_runtime.h): the ABI's checks live here, the runtime
// calls below them. A stream is one runtime queue; work runs in enqueue order.
#include <memory>
#include <vector>

#include "block_plan.h"
#include "tensor_check.h"
#include "xpu_internal.h"

namespace tsr::xpu {
namespace {

// Synthetic addresses start far from anything real and leave a gap after each buffer, so
// validation never sees two buffers as adjacent or overlapping.
constexpr uint64_t kAddressBase = 1ull << 44;
constexpr uint64_t kAddressGap = 1ull << 12;
std::atomic<uint64_t> next_address{kAddressBase};

unsigned char* reserve_addresses(size_t bytes) {
  const uint64_t span = (static_cast<uint64_t>(bytes) + 2 * kAddressGap) & ~(kAddressGap - 1);
  return reinterpret_cast<unsigned char*>(next_address.fetch_add(span) + kAddressGap);
}

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

int64_t block_count(const tsr_buffer_s* buffer, size_t block_bytes) {
  return static_cast<int64_t>(buffer->bytes / block_bytes);
}

void copy_runs(const tsr_stream_s* s, const std::vector<gpu::BlockRun>& runs,
               const tsr_buffer_s* src, const tsr_buffer_s* dst, size_t block_bytes) {
  for (const gpu::BlockRun& run : runs) {
    runtime().copy(s->queue, dst->mem, static_cast<size_t>(run.dst) * block_bytes, src->mem,
                   static_cast<size_t>(run.src) * block_bytes,
                   static_cast<size_t>(run.count) * block_bytes);
  }
}

}  // namespace

tsr_error* buffer_alloc(tsr_device_t device, size_t bytes, tsr_buffer_kind kind,
                        tsr_buffer_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr && out != nullptr, "buffer_alloc: NULL argument");
    TSR_PLUGIN_CHECK_ARG(kind == TSR_BUFFER_KIND_DEVICE || kind == TSR_BUFFER_KIND_HOST_PINNED,
                         "buffer_alloc: unknown buffer kind %d", static_cast<int>(kind));
    RtMem mem = nullptr;
    void* host_ptr = nullptr;
    if (bytes > 0) {
      mem = runtime().alloc(device->index, bytes, kind == TSR_BUFFER_KIND_HOST_PINNED, &host_ptr);
      if (kind == TSR_BUFFER_KIND_DEVICE) device->dev->allocated += bytes;
    }
    *out = new tsr_buffer_s{device, mem, reserve_addresses(bytes), host_ptr, bytes, kind};
  });
}

tsr_error* buffer_free(tsr_buffer_t buffer) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(buffer != nullptr, "buffer_free: buffer is NULL");
    std::unique_ptr<tsr_buffer_s> owned(buffer);
    if (buffer->mem == nullptr) return;
    runtime().free(buffer->device->index, buffer->mem);
    if (buffer->kind == TSR_BUFFER_KIND_DEVICE) buffer->device->dev->allocated -= buffer->bytes;
  });
}

tsr_error* buffer_host_ptr(tsr_buffer_t buffer, void** out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(buffer != nullptr && out != nullptr, "buffer_host_ptr: NULL argument");
    TSR_PLUGIN_CHECK(buffer->kind == TSR_BUFFER_KIND_HOST_PINNED, TSR_ERROR_CODE_UNIMPLEMENTED,
                     "buffer_host_ptr: XPU device buffers are not host-addressable");
    *out = buffer->host;
  });
}

tsr_error* stream_create(tsr_device_t device, tsr_stream_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr && out != nullptr, "stream_create: NULL argument");
    *out = new tsr_stream_s{device, runtime().queue_create(device->index)};
  });
}

tsr_error* stream_destroy(tsr_stream_t stream) {
  return sdk::guard([&] {
    std::unique_ptr<tsr_stream_s> owned(checked(stream, "stream_destroy"));
    runtime().queue_destroy(stream->queue);  // waits for the queue's work
    if (stream->workspace != nullptr) runtime().free(stream->device->index, stream->workspace);
  });
}

tsr_error* stream_synchronize(tsr_stream_t stream) {
  return sdk::guard([&] { runtime().queue_finish(checked(stream, "stream_synchronize")->queue); });
}

tsr_error* event_create(tsr_device_t device, tsr_event_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr && out != nullptr, "event_create: NULL argument");
    *out = new tsr_event_s{device, runtime().event_create(device->index)};
  });
}

tsr_error* event_destroy(tsr_event_t event) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "event_destroy: event is NULL");
    std::unique_ptr<tsr_event_s> owned(event);
    runtime().event_destroy(event->event);
  });
}

tsr_error* event_record(tsr_event_t event, tsr_stream_t stream) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "event_record: event is NULL");
    runtime().event_record(event->event, checked(stream, "event_record")->queue);
  });
}

tsr_error* event_synchronize(tsr_event_t event) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "event_synchronize: event is NULL");
    runtime().event_wait_host(event->event);
  });
}

tsr_error* stream_wait_event(tsr_stream_t stream, tsr_event_t event) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "stream_wait_event: event is NULL");
    runtime().queue_wait_event(checked(stream, "stream_wait_event")->queue, event->event);
  });
}

tsr_error* event_elapsed_ms(tsr_event_t start, tsr_event_t end, float* ms) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(start != nullptr && end != nullptr && ms != nullptr,
                         "event_elapsed_ms: NULL argument");
    *ms = runtime().elapsed_ms(start->event, end->event);
  });
}

tsr_error* memcpy_h2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, const void* src,
                      size_t bytes) {
  return sdk::guard([&] {
    tsr_stream_s* s = checked(stream, "memcpy_h2d");
    check_range(dst, dst_offset, bytes, "memcpy_h2d dst");
    if (bytes == 0) return;
    TSR_PLUGIN_CHECK_ARG(src != nullptr, "memcpy_h2d: src is NULL");
    runtime().write(s->queue, dst->mem, dst_offset, src, bytes);
  });
}

tsr_error* memcpy_d2h(tsr_stream_t stream, void* dst, tsr_buffer_t src, size_t src_offset,
                      size_t bytes) {
  return sdk::guard([&] {
    tsr_stream_s* s = checked(stream, "memcpy_d2h");
    check_range(src, src_offset, bytes, "memcpy_d2h src");
    if (bytes == 0) return;
    TSR_PLUGIN_CHECK_ARG(dst != nullptr, "memcpy_d2h: dst is NULL");
    runtime().read(s->queue, dst, src->mem, src_offset, bytes);
  });
}

tsr_error* memcpy_d2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, tsr_buffer_t src,
                      size_t src_offset, size_t bytes) {
  return sdk::guard([&] {
    tsr_stream_s* s = checked(stream, "memcpy_d2d");
    check_range(dst, dst_offset, bytes, "memcpy_d2d dst");
    check_range(src, src_offset, bytes, "memcpy_d2d src");
    if (bytes == 0) return;
    runtime().copy(s->queue, dst->mem, dst_offset, src->mem, src_offset, bytes);
  });
}

tsr_error* memset_d(tsr_stream_t stream, tsr_buffer_t dst, size_t offset, int value, size_t bytes) {
  return sdk::guard([&] {
    tsr_stream_s* s = checked(stream, "memset_d");
    check_range(dst, offset, bytes, "memset_d dst");
    if (bytes == 0) return;
    runtime().fill(s->queue, dst->mem, offset, static_cast<uint8_t>(value), bytes);
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

// Validation's view of a buffer: its synthetic address range (see xpu_internal.h).
tsr::plugin::BufferExtent tsr::plugin::buffer_extent(tsr_buffer_t buffer, const char* field) {
  TSR_PLUGIN_CHECK_ARG(buffer != nullptr, "%s: buffer is NULL", field);
  return {buffer->address, buffer->bytes};
}
