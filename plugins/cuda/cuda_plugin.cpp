// The CUDA plugin's entry points: tsr_plugin_get_api, tsr_plugin_score, runtime
// initialization, devices, KV block sizing and the function table.
//
// State: one process-wide record of whether the runtime was initialized and how many
// devices it found, guarded by a mutex (initialize may race with device_count). A machine
// without a driver or GPU is not an error: initialize succeeds with 0 devices and logs one
// line saying why.
#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>

#include "cuda_internal.h"

namespace tsr::cuda {
namespace {

struct RuntimeState {
  std::mutex mutex;
  bool initialized = false;
  int device_count = 0;
  std::string no_device_reason;
};

RuntimeState& state() {
  static RuntimeState s;
  return s;
}

tsr_error_code code_for(cudaError_t rc) {
  switch (rc) {
    case cudaErrorMemoryAllocation:
      return TSR_ERROR_CODE_RESOURCE_EXHAUSTED;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorDevicesUnavailable:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorLaunchFailure:
    case cudaErrorIllegalAddress:
      return TSR_ERROR_CODE_UNAVAILABLE;
    case cudaErrorInvalidDevice:
      return TSR_ERROR_CODE_NOT_FOUND;
    default:
      return TSR_ERROR_CODE_INTERNAL;
  }
}

// Errors that mean "no usable CUDA here" rather than a failure of a present runtime.
bool means_no_device(cudaError_t rc) {
  return rc == cudaErrorNoDevice || rc == cudaErrorInsufficientDriver ||
         rc == cudaErrorSystemDriverMismatch || rc == cudaErrorCompatNotSupportedOnDevice ||
         rc == cudaErrorDevicesUnavailable || rc == cudaErrorInitializationError;
}

int ensure_initialized() {
  RuntimeState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.initialized) return s.device_count;
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc == cudaSuccess) {
    s.device_count = count;
    if (count == 0) s.no_device_reason = "the runtime reports 0 devices";
  } else if (means_no_device(rc)) {
    // Clears the error so later runtime calls do not report it again.
    (void)cudaGetLastError();
    s.device_count = 0;
    s.no_device_reason = cudaGetErrorString(rc);
    host().info("no CUDA device: " + s.no_device_reason);
  } else {
    throw sdk::Error(TSR_ERROR_CODE_UNAVAILABLE,
                     sdk::format("cudaGetDeviceCount failed: %s (%s)", cudaGetErrorString(rc),
                                 cudaGetErrorName(rc)));
  }
  s.initialized = true;
  return s.device_count;
}

void check_index(int32_t index) {
  RuntimeState& s = state();
  int count = 0;
  std::string reason;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    TSR_PLUGIN_CHECK(s.initialized, TSR_ERROR_CODE_FAILED_PRECONDITION,
                     "the CUDA plugin is not initialized: call initialize first");
    count = s.device_count;
    reason = s.no_device_reason;
  }
  if (index < 0 || index >= count) {
    throw sdk::Error(
        TSR_ERROR_CODE_NOT_FOUND,
        count == 0
            ? sdk::format("CUDA device %d not found: no CUDA device (%s)", index, reason.c_str())
            : sdk::format("CUDA device %d not found: %d device(s), valid indices 0..%d", index,
                          count, count - 1));
  }
}

tsr_error* initialize() {
  return sdk::guard([] { ensure_initialized(); });
}

void shutdown() {}

tsr_error* device_count(int32_t* count) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(count != nullptr, "device_count: count is NULL");
    *count = ensure_initialized();
  });
}

tsr_error* device_get_properties(int32_t index, tsr_device_properties* props) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(props != nullptr && props->struct_size >= sizeof(size_t),
                         "device_get_properties: props is NULL or has no struct_size");
    check_index(index);
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties");
    tsr_device_properties full{};
    full.struct_size = sizeof full;
    std::snprintf(full.name, sizeof full.name, "%s", prop.name);
    std::snprintf(full.vendor, sizeof full.vendor, "NVIDIA");
    check(cudaDeviceGetPCIBusId(full.pci_bus_id, sizeof full.pci_bus_id, index),
          "cudaDeviceGetPCIBusId");
    full.type = TSR_DEVICE_TYPE_CUDA;
    full.total_memory = prop.totalGlobalMem;
    full.compute_units = static_cast<uint32_t>(prop.multiProcessorCount);
    full.caps =
        TSR_DEVICE_CAP_GRAPHS | TSR_DEVICE_CAP_PINNED_HOST |
        (collectives_table() != nullptr && collectives_available() ? TSR_DEVICE_CAP_COLLECTIVES
                                                                   : 0);
    full.activation_dtypes =
        TSR_DTYPE_BIT(TSR_DTYPE_F32) | TSR_DTYPE_BIT(TSR_DTYPE_BF16) | TSR_DTYPE_BIT(TSR_DTYPE_F16);
    full.kv_cache_dtypes = full.activation_dtypes;
    full.weight_formats = weight_formats(index);
    int clock_khz = 0;
    int bus_bits = 0;
    if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, index) == cudaSuccess &&
        cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, index) == cudaSuccess) {
      // Double data rate: two transfers per memory clock.
      full.memory_bandwidth = 2ull * static_cast<uint64_t>(clock_khz) * 1000ull *
                              static_cast<uint64_t>(bus_bits) / 8ull;
    }
    (void)cudaGetLastError();
    const size_t fits = std::min(props->struct_size, sizeof full);
    std::memcpy(reinterpret_cast<char*>(props) + sizeof(size_t),
                reinterpret_cast<const char*>(&full) + sizeof(size_t), fits - sizeof(size_t));
  });
}

tsr_error* device_open(int32_t index, tsr_device_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "device_open: out is NULL");
    check_index(index);
    check(cudaSetDevice(index), "cudaSetDevice");
    *out = new tsr_device_s{index};
  });
}

tsr_error* device_close(tsr_device_t device) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr, "device_close: device is NULL");
    delete device;
  });
}

tsr_error* device_memory_info(tsr_device_t device, uint64_t* free_bytes, uint64_t* total_bytes) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr && free_bytes != nullptr && total_bytes != nullptr,
                         "device_memory_info: NULL argument");
    set_device(device);
    size_t free_now = 0;
    size_t total = 0;
    check(cudaMemGetInfo(&free_now, &total), "cudaMemGetInfo");
    *free_bytes = free_now;
    *total_bytes = total;
  });
}

tsr_error* kv_block_bytes(tsr_device_t device, const tsr_kv_layout* layout, uint64_t* bytes) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(device != nullptr && layout != nullptr && bytes != nullptr,
                         "kv_block_bytes: NULL argument");
    TSR_PLUGIN_CHECK_ARG(TSR_STRUCT_HAS(layout, tsr_kv_layout, dtype),
                         "kv_block_bytes: layout.struct_size too small");
    TSR_PLUGIN_CHECK_ARG(
        layout->num_kv_heads > 0 && layout->head_dim > 0 && layout->block_size > 0,
        "kv_block_bytes: num_kv_heads (%d), head_dim (%d) and block_size (%d) must be positive",
        layout->num_kv_heads, layout->head_dim, layout->block_size);
    TSR_PLUGIN_CHECK_ARG(layout->dtype == TSR_DTYPE_F32 || layout->dtype == TSR_DTYPE_F16 ||
                             layout->dtype == TSR_DTYPE_BF16,
                         "kv_block_bytes: KV dtype %s is not supported (f32, f16, bf16)",
                         sdk::dtype_name(layout->dtype));
    // Keys then values, each [block_size][num_kv_heads][head_dim].
    *bytes = 2ull * static_cast<uint64_t>(layout->block_size) *
             static_cast<uint64_t>(layout->num_kv_heads) * static_cast<uint64_t>(layout->head_dim) *
             sdk::dtype_size(layout->dtype);
  });
}

tsr_plugin_api make_api() {
  tsr_plugin_api api{};
  api.struct_size = sizeof api;
  api.abi_major = TSR_ABI_VERSION_MAJOR;
  api.abi_minor = TSR_ABI_VERSION_MINOR;
  api.name = "cuda";
  api.version = "0.1.0";
  api.device_type = TSR_DEVICE_TYPE_CUDA;
  api.initialize = &initialize;
  api.shutdown = &shutdown;
  api.device_count = &device_count;
  api.device_get_properties = &device_get_properties;
  api.device_open = &device_open;
  api.device_close = &device_close;
  api.device_memory_info = &device_memory_info;
  api.buffer_alloc = &buffer_alloc;
  api.buffer_free = &buffer_free;
  api.buffer_host_ptr = &buffer_host_ptr;
  api.stream_create = &stream_create;
  api.stream_destroy = &stream_destroy;
  api.stream_synchronize = &stream_synchronize;
  api.event_create = &event_create;
  api.event_destroy = &event_destroy;
  api.event_record = &event_record;
  api.event_synchronize = &event_synchronize;
  api.stream_wait_event = &stream_wait_event;
  api.event_elapsed_ms = &event_elapsed_ms;
  api.memcpy_h2d = &memcpy_h2d;
  api.memcpy_d2h = &memcpy_d2h;
  api.memcpy_d2d = &memcpy_d2d;
  api.memset_d = &memset_d;
  api.weight_prepack = &weight_prepack;
  api.weight_destroy = &weight_destroy;
  api.weight_bytes = &weight_bytes;
  api.kv_block_bytes = &kv_block_bytes;
  api.ops = ops_table();
  api.op_supported = &op_supported;
  api.graph_begin_capture = &graph_begin_capture;
  api.graph_end_capture = &graph_end_capture;
  api.graph_launch = &graph_launch;
  api.graph_destroy = &graph_destroy;
  api.collectives = collectives_table();
  api.diagnose = &diagnose;
  return api;
}

}  // namespace

sdk::Host& host() {
  static sdk::Host h;
  return h;
}

void check(cudaError_t rc, const char* what) {
  if (rc == cudaSuccess) return;
  (void)cudaGetLastError();
  throw sdk::Error(code_for(rc), sdk::format("%s failed: %s (%s)", what, cudaGetErrorString(rc),
                                             cudaGetErrorName(rc)));
}

void set_device(const tsr_device_s* device) {
  TSR_PLUGIN_CHECK_ARG(device != nullptr, "device handle is NULL");
  check(cudaSetDevice(device->index), "cudaSetDevice");
}

void check_range(const tsr_buffer_s* buffer, size_t offset, size_t bytes, const char* name) {
  TSR_PLUGIN_CHECK_ARG(buffer != nullptr, "%s: buffer is NULL", name);
  TSR_PLUGIN_CHECK_ARG(offset <= buffer->bytes && bytes <= buffer->bytes - offset,
                       "%s: range [%zu, +%zu) exceeds the buffer's %zu bytes", name, offset, bytes,
                       buffer->bytes);
}

void* tensor_address(const tsr_tensor& tensor, const char* name) {
  TSR_PLUGIN_CHECK_ARG(tensor.struct_size >= sizeof(tsr_tensor), "%s: struct_size too small", name);
  TSR_PLUGIN_CHECK_ARG(tensor.ndim >= 0 && tensor.ndim <= TSR_MAX_DIMS, "%s: ndim %d out of range",
                       name, tensor.ndim);
  for (int32_t d = 0; d < tensor.ndim; ++d) {
    TSR_PLUGIN_CHECK_ARG(tensor.shape[d] >= 0, "%s: negative dimension %d", name, d);
  }
  TSR_PLUGIN_CHECK_ARG(sdk::dtype_size(tensor.dtype) != 0, "%s: invalid dtype", name);
  check_range(tensor.buffer, tensor.offset, sdk::tensor_bytes(tensor), name);
  return static_cast<char*>(tensor.buffer->ptr) + tensor.offset;
}

}  // namespace tsr::cuda

extern "C" TSR_PLUGIN_EXPORT const tsr_plugin_api* tsr_plugin_get_api(const tsr_host_api* host_api,
                                                                      uint32_t abi_major,
                                                                      uint32_t abi_minor) {
  tsr::cuda::host().attach(host_api, "cuda");
  if (abi_major != TSR_ABI_VERSION_MAJOR) {
    tsr::cuda::host().log(
        TSR_LOG_LEVEL_ERROR,
        tsr::sdk::format(
            "libtessera-cuda.so was built for plugin ABI %d.%d; the host speaks %u.%u: "
            "refusing to load",
            TSR_ABI_VERSION_MAJOR, TSR_ABI_VERSION_MINOR, abi_major, abi_minor));
    return nullptr;
  }
  static const tsr_plugin_api api = tsr::cuda::make_api();
  return &api;
}

// Looks for the driver library without starting the runtime (no cuInit). Only the versioned
// soname is asked for, and the library must answer cuDriverGetVersion: the toolkit's stub
// libcuda.so (lib64/stubs, soname libcuda.so.1 too) answers CUDA_ERROR_STUB_LIBRARY, so a
// stub that was put on the library path or loaded by the host is not taken for a driver.
extern "C" TSR_PLUGIN_EXPORT int32_t tsr_plugin_score(void) {
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (driver == nullptr) return 0;
  using DriverGetVersionFn = int (*)(int*);
  const auto get_version =
      reinterpret_cast<DriverGetVersionFn>(dlsym(driver, "cuDriverGetVersion"));
  int version = 0;
  const bool real_driver = get_version != nullptr && get_version(&version) == 0 && version > 0;
  dlclose(driver);
  return real_driver ? 100 : 0;
}
