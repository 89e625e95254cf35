// The CUDA plugin's tsr_ops_api table and op_supported, generated from ops.def: each entry
// makes the stream's device current and runs the op under guard() so no exception crosses
// the ABI. Also the plugin's definitions of the shared validation hooks (buffer_extent) and
// the per-stream workspace and per-device facts the ops use.
#include <algorithm>
#include <array>
#include <memory>
#include <mutex>
#include <string>

#include "cuda_ops.h"

namespace tsr::plugin {

BufferExtent buffer_extent(tsr_buffer_t buffer, const char* field) {
  TSR_PLUGIN_CHECK_ARG(buffer != nullptr, "%s: buffer is NULL", field);
  return {buffer->ptr, buffer->bytes};
}

}  // namespace tsr::plugin

namespace tsr::cuda {
namespace {

#define TSR_OP(UPPER, lower, params)                                         \
  tsr_error* entry_##lower(tsr_stream_t stream, const params* p) {           \
    return sdk::guard([&] {                                                  \
      TSR_PLUGIN_CHECK_ARG(stream != nullptr, "%s: stream is NULL", #lower); \
      set_device(stream->device);                                            \
      ops::lower(stream, p, true);                                           \
    });                                                                      \
  }
#include "tessera/ops.def"
#undef TSR_OP

}  // namespace

namespace ops {

void require_device(const tsr_stream_s* stream, const tsr_tensor& t, const char* op,
                    const char* field) {
  if (stream == nullptr || t.buffer == nullptr) return;
  TSR_PLUGIN_CHECK_ARG(t.buffer->kind == TSR_BUFFER_KIND_DEVICE,
                       "%s: %s: must be a device buffer, not pinned host memory", op, field);
  TSR_PLUGIN_CHECK_ARG(t.buffer->device->index == stream->device->index,
                       "%s: %s: buffer is on CUDA device %d but the stream on device %d", op, field,
                       t.buffer->device->index, stream->device->index);
}

void require_on_device(const tsr_stream_s* stream, const OpTensors& tensors, const char* op) {
  for (const NamedTensor& t : tensors) {
    require_device(stream, *t.tensor, op, t.field);
    require_aligned(t.view, op, t.field);
  }
}

void require_device_buffer(const tsr_stream_s* stream, tsr_buffer_t buffer, const char* op,
                           const char* field) {
  tsr_tensor t{};
  t.struct_size = sizeof t;
  t.buffer = buffer;
  require_device(stream, t, op, field);
}

namespace {
// Turns an ABI error back into the exception guard() expects.
void rethrow(tsr_error* error) {
  if (error == nullptr) return;
  const tsr_error_code code = error->code;
  std::string message = error->message != nullptr ? error->message : "";
  error->destroy(error);
  throw sdk::Error(code, message);
}
}  // namespace

// The block ops are whole-buffer byte moves validated against their host id arrays
// (cuda_blocks.cpp); op_supported only checks the params struct.
void copy_blocks(tsr_stream_s* stream, const tsr_copy_blocks_params* p, bool execute) {
  TSR_PLUGIN_CHECK_ARG(p != nullptr && p->struct_size >= sizeof *p, "copy_blocks: params");
  TSR_PLUGIN_CHECK_ARG(
      p->src != nullptr && p->dst != nullptr && p->block_bytes > 0 && p->num_pairs >= 0,
      "copy_blocks: src, dst and block_bytes are required");
  if (execute) rethrow(::tsr::cuda::copy_blocks(stream, p));
}
void swap_blocks(tsr_stream_s* stream, const tsr_swap_blocks_params* p, bool execute) {
  TSR_PLUGIN_CHECK_ARG(p != nullptr && p->struct_size >= sizeof *p, "swap_blocks: params");
  TSR_PLUGIN_CHECK_ARG(p->device_buffer != nullptr && p->host_buffer != nullptr &&
                           p->block_bytes > 0 && p->num_pairs >= 0,
                       "swap_blocks: device_buffer, host_buffer and block_bytes are required");
  if (execute) rethrow(::tsr::cuda::swap_blocks(stream, p));
}

}  // namespace ops

const tsr_ops_api* ops_table() {
  static const tsr_ops_api table = [] {
    tsr_ops_api t{};
    t.struct_size = sizeof t;
#define TSR_OP(UPPER, lower, params) t.lower = &entry_##lower;
#include "tessera/ops.def"
#undef TSR_OP
    return t;
  }();
  return &table;
}

int op_supported(tsr_device_t device, tsr_op_id op, const void* params) {
  if (static_cast<int>(op) < 0 || op >= TSR_OP_COUNT) return 0;
  if (params == nullptr) return 1;
  tsr_stream_s probe{device, nullptr, {}};
  tsr_error* error = sdk::guard([&] {
    switch (op) {
#define TSR_OP(UPPER, lower, params_type)                                                     \
  case TSR_OP_##UPPER:                                                                        \
    ops::lower(device != nullptr ? &probe : nullptr, static_cast<const params_type*>(params), \
               false);                                                                        \
    break;
#include "tessera/ops.def"
#undef TSR_OP
      case TSR_OP_COUNT:
        break;
    }
  });
  if (error == nullptr) return 1;
  error->destroy(error);
  return 0;
}

const DeviceInfo& device_info(int index) {
  static std::mutex mutex;
  static std::array<std::unique_ptr<DeviceInfo>, 64> cache;
  TSR_PLUGIN_CHECK_ARG(index >= 0 && index < static_cast<int>(cache.size()),
                       "CUDA device index %d out of range", index);
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[static_cast<size_t>(index)];
  if (!slot) {
    auto info = std::make_unique<DeviceInfo>();
    int optin = 0;
    check(cudaDeviceGetAttribute(&info->sm_count, cudaDevAttrMultiProcessorCount, index),
          "cudaDeviceGetAttribute(SM count)");
    check(cudaDeviceGetAttribute(&info->cc_major, cudaDevAttrComputeCapabilityMajor, index),
          "cudaDeviceGetAttribute(compute capability)");
    check(cudaDeviceGetAttribute(&info->cc_minor, cudaDevAttrComputeCapabilityMinor, index),
          "cudaDeviceGetAttribute(compute capability)");
    check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, index),
          "cudaDeviceGetAttribute(shared memory)");
    info->max_shared_per_block = static_cast<size_t>(optin);
    slot = std::move(info);
  }
  return *slot;
}

void* stream_workspace(tsr_stream_s* stream, size_t bytes, const char* what) {
  StreamWorkspace& ws = stream->workspace;
  if (bytes <= ws.bytes) return ws.ptr;
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream->stream, &status), "cudaStreamIsCapturing");
  TSR_PLUGIN_CHECK(status == cudaStreamCaptureStatusNone, TSR_ERROR_CODE_FAILED_PRECONDITION,
                   "%s: needs %zu bytes of stream workspace while the stream captures a graph "
                   "(it holds %zu): run the same shapes eagerly once before capturing",
                   what, bytes, ws.bytes);
  // Grow geometrically so a slowly increasing need does not allocate every step.
  const size_t grown = std::max(bytes, ws.bytes * 2);
  const size_t rounded = (grown + 255) / 256 * 256;
  void* ptr = nullptr;
  check(cudaMalloc(&ptr, rounded),
        sdk::format("%s: cudaMalloc(%zu bytes) for workspace", what, rounded).c_str());
  if (ws.ptr != nullptr) ws.retired.push_back(ws.ptr);
  ws.ptr = ptr;
  ws.bytes = rounded;
  return ptr;
}

}  // namespace tsr::cuda
