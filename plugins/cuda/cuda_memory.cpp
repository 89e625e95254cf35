// Buffers, streams, events, asynchronous copies and graph capture of the CUDA plugin.
//
// Device buffers come from cudaMalloc, pinned host buffers from cudaHostAlloc; managed
// memory is never used (its page migration hides transfers the scheduler must plan).
// Streams are non-blocking so they never serialize against the legacy default stream.
#include <memory>

#include "cuda_internal.h"

namespace tsr::cuda {
namespace {

tsr_stream_s* checked(tsr_stream_t stream, const char* what) {
  TSR_PLUGIN_CHECK_ARG(stream != nullptr, "%s: stream is NULL", what);
  set_device(stream->device);
  return stream;
}

void check_same_device(const tsr_stream_s* stream, const tsr_buffer_s* buffer, const char* what) {
  TSR_PLUGIN_CHECK_ARG(buffer != nullptr, "%s: buffer is NULL", what);
  TSR_PLUGIN_CHECK_ARG(buffer->device->index == stream->device->index,
                       "%s: buffer is on CUDA device %d but the stream on device %d", what,
                       buffer->device->index, stream->device->index);
}

char* address(const tsr_buffer_s* buffer, size_t offset) {
  return static_cast<char*>(buffer->ptr) + offset;
}

}  // namespace

tsr_error* buffer_alloc(tsr_device_t device, size_t bytes, tsr_buffer_kind kind,
                        tsr_buffer_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "buffer_alloc: out is NULL");
    TSR_PLUGIN_CHECK_ARG(kind == TSR_BUFFER_KIND_DEVICE || kind == TSR_BUFFER_KIND_HOST_PINNED,
                         "buffer_alloc: unknown buffer kind %d", static_cast<int>(kind));
    set_device(device);
    void* ptr = nullptr;
    if (bytes > 0) {
      if (kind == TSR_BUFFER_KIND_DEVICE) {
        check(cudaMalloc(&ptr, bytes), sdk::format("cudaMalloc(%zu bytes)", bytes).c_str());
      } else {
        // Portable: the pinning holds for every device, so swap works from any of them.
        check(cudaHostAlloc(&ptr, bytes, cudaHostAllocPortable),
              sdk::format("cudaHostAlloc(%zu bytes)", bytes).c_str());
      }
    }
    *out = new tsr_buffer_s{device, ptr, bytes, kind};
  });
}

tsr_error* buffer_free(tsr_buffer_t buffer) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(buffer != nullptr, "buffer_free: buffer is NULL");
    std::unique_ptr<tsr_buffer_s> owned(buffer);
    if (buffer->ptr == nullptr) return;
    set_device(buffer->device);
    if (buffer->kind == TSR_BUFFER_KIND_DEVICE) {
      check(cudaFree(buffer->ptr), "cudaFree");
    } else {
      check(cudaFreeHost(buffer->ptr), "cudaFreeHost");
    }
  });
}

tsr_error* buffer_host_ptr(tsr_buffer_t buffer, void** out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(buffer != nullptr && out != nullptr, "buffer_host_ptr: NULL argument");
    TSR_PLUGIN_CHECK(buffer->kind == TSR_BUFFER_KIND_HOST_PINNED, TSR_ERROR_CODE_UNIMPLEMENTED,
                     "buffer_host_ptr: CUDA device buffers are not host-addressable");
    *out = buffer->ptr;
  });
}

tsr_error* stream_create(tsr_device_t device, tsr_stream_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "stream_create: out is NULL");
    set_device(device);
    cudaStream_t stream = nullptr;
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    *out = new tsr_stream_s{device, stream, {}};
  });
}

tsr_error* stream_destroy(tsr_stream_t stream) {
  return sdk::guard([&] {
    std::unique_ptr<tsr_stream_s> owned(checked(stream, "stream_destroy"));
    // Work still queued may use the workspace: drain the stream before freeing it.
    check(cudaStreamSynchronize(stream->stream), "cudaStreamSynchronize");
    StreamWorkspace& ws = stream->workspace;
    ws.retired.push_back(ws.ptr);
    for (void* ptr : ws.retired) {
      if (ptr != nullptr) check(cudaFree(ptr), "cudaFree(stream workspace)");
    }
    check(cudaStreamDestroy(stream->stream), "cudaStreamDestroy");
  });
}

tsr_error* stream_synchronize(tsr_stream_t stream) {
  return sdk::guard([&] {
    check(cudaStreamSynchronize(checked(stream, "stream_synchronize")->stream),
          "cudaStreamSynchronize");
  });
}

tsr_error* event_create(tsr_device_t device, tsr_event_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "event_create: out is NULL");
    set_device(device);
    cudaEvent_t event = nullptr;
    check(cudaEventCreateWithFlags(&event, cudaEventDefault), "cudaEventCreateWithFlags");
    *out = new tsr_event_s{device, event};
  });
}

tsr_error* event_destroy(tsr_event_t event) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "event_destroy: event is NULL");
    std::unique_ptr<tsr_event_s> owned(event);
    set_device(event->device);
    check(cudaEventDestroy(event->event), "cudaEventDestroy");
  });
}

tsr_error* event_record(tsr_event_t event, tsr_stream_t stream) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "event_record: event is NULL");
    check(cudaEventRecord(event->event, checked(stream, "event_record")->stream),
          "cudaEventRecord");
  });
}

tsr_error* event_synchronize(tsr_event_t event) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "event_synchronize: event is NULL");
    set_device(event->device);
    check(cudaEventSynchronize(event->event), "cudaEventSynchronize");
  });
}

tsr_error* stream_wait_event(tsr_stream_t stream, tsr_event_t event) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(event != nullptr, "stream_wait_event: event is NULL");
    check(cudaStreamWaitEvent(checked(stream, "stream_wait_event")->stream, event->event, 0),
          "cudaStreamWaitEvent");
  });
}

tsr_error* event_elapsed_ms(tsr_event_t start, tsr_event_t end, float* ms) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(start != nullptr && end != nullptr && ms != nullptr,
                         "event_elapsed_ms: NULL argument");
    set_device(start->device);
    check(cudaEventElapsedTime(ms, start->event, end->event), "cudaEventElapsedTime");
  });
}

tsr_error* memcpy_h2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, const void* src,
                      size_t bytes) {
  return sdk::guard([&] {
    tsr_stream_s* s = checked(stream, "memcpy_h2d");
    check_same_device(s, dst, "memcpy_h2d");
    check_range(dst, dst_offset, bytes, "memcpy_h2d dst");
    if (bytes == 0) return;
    TSR_PLUGIN_CHECK_ARG(src != nullptr, "memcpy_h2d: src is NULL");
    // From pageable memory the runtime stages the source before returning, which is what
    // the ABI promises the caller.
    check(cudaMemcpyAsync(address(dst, dst_offset), src, bytes, cudaMemcpyHostToDevice, s->stream),
          "cudaMemcpyAsync h2d");
  });
}

tsr_error* memcpy_d2h(tsr_stream_t stream, void* dst, tsr_buffer_t src, size_t src_offset,
                      size_t bytes) {
  return sdk::guard([&] {
    tsr_stream_s* s = checked(stream, "memcpy_d2h");
    check_same_device(s, src, "memcpy_d2h");
    check_range(src, src_offset, bytes, "memcpy_d2h src");
    if (bytes == 0) return;
    TSR_PLUGIN_CHECK_ARG(dst != nullptr, "memcpy_d2h: dst is NULL");
    check(cudaMemcpyAsync(dst, address(src, src_offset), bytes, cudaMemcpyDeviceToHost, s->stream),
          "cudaMemcpyAsync d2h");
  });
}

tsr_error* memcpy_d2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, tsr_buffer_t src,
                      size_t src_offset, size_t bytes) {
  return sdk::guard([&] {
    tsr_stream_s* s = checked(stream, "memcpy_d2d");
    TSR_PLUGIN_CHECK_ARG(dst != nullptr && src != nullptr, "memcpy_d2d: buffer is NULL");
    check_range(dst, dst_offset, bytes, "memcpy_d2d dst");
    check_range(src, src_offset, bytes, "memcpy_d2d src");
    if (bytes == 0) return;
    // cudaMemcpyDefault lets pinned host buffers and peer devices take part as well.
    check(cudaMemcpyAsync(address(dst, dst_offset), address(src, src_offset), bytes,
                          cudaMemcpyDefault, s->stream),
          "cudaMemcpyAsync d2d");
  });
}

tsr_error* memset_d(tsr_stream_t stream, tsr_buffer_t dst, size_t offset, int value, size_t bytes) {
  return sdk::guard([&] {
    tsr_stream_s* s = checked(stream, "memset_d");
    check_range(dst, offset, bytes, "memset_d dst");
    if (bytes == 0) return;
    check(cudaMemsetAsync(address(dst, offset), value, bytes, s->stream), "cudaMemsetAsync");
  });
}

tsr_error* graph_begin_capture(tsr_stream_t stream) {
  return sdk::guard([&] {
    // Thread-local mode: other threads may keep using the runtime while this one captures.
    check(cudaStreamBeginCapture(checked(stream, "graph_begin_capture")->stream,
                                 cudaStreamCaptureModeThreadLocal),
          "cudaStreamBeginCapture");
  });
}

tsr_error* graph_end_capture(tsr_stream_t stream, tsr_graph_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "graph_end_capture: out is NULL");
    tsr_stream_s* s = checked(stream, "graph_end_capture");
    cudaGraph_t graph = nullptr;
    check(cudaStreamEndCapture(s->stream, &graph), "cudaStreamEndCapture");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t rc = cudaGraphInstantiate(&exec, graph, 0);
    if (rc != cudaSuccess) {
      cudaGraphDestroy(graph);
      check(rc, "cudaGraphInstantiate");
    }
    *out = new tsr_graph_s{s->device, graph, exec};
  });
}

tsr_error* graph_launch(tsr_graph_t graph, tsr_stream_t stream) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(graph != nullptr, "graph_launch: graph is NULL");
    check(cudaGraphLaunch(graph->exec, checked(stream, "graph_launch")->stream), "cudaGraphLaunch");
  });
}

tsr_error* graph_destroy(tsr_graph_t graph) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(graph != nullptr, "graph_destroy: graph is NULL");
    std::unique_ptr<tsr_graph_s> owned(graph);
    set_device(graph->device);
    check(cudaGraphExecDestroy(graph->exec), "cudaGraphExecDestroy");
    check(cudaGraphDestroy(graph->graph), "cudaGraphDestroy");
  });
}

}  // namespace tsr::cuda
