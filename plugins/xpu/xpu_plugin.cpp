// The XPU (Intel GPU) plugin's entry points: tsr_plugin_get_api, tsr_plugin_score,
// initialization (which picks the runtime: xpu.runtime), devices, KV block sizing and the
// function table.
//
// State: the runtime and device registry, made once by initialize under a mutex. A machine
// without the loader, a driver or an Intel GPU is not an error: initialize succeeds with 0
// devices and logs one line saying why.
#include <dirent.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "xpu_internal.h"
#include "ze_loader.h"

namespace tsr::xpu {
namespace {

// The runtime and the devices' state, made once by initialize under a mutex.
struct Registry {
  std::mutex mutex;
  bool initialized = false;
  std::unique_ptr<Runtime> runtime;
  std::vector<std::unique_ptr<DeviceState>> devices;
};

// Never destroyed: releasing Level Zero or OpenCL objects from a static destructor at exit
// races the drivers' own teardown, and the host never unloads a plugin it still uses.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

bool intel_render_node_visible();

// xpu.runtime: level_zero (Intel GPUs), opencl (any OpenCL device, PoCL's CPU device
// included: how CI runs the kernels), auto (default: Level Zero, else OpenCL GPUs of Intel,
// looked for only when an Intel render node exists, so that a machine without one never
// starts an OpenCL driver such as PoCL just to find nothing).
std::unique_ptr<Runtime> choose_runtime() {
  const std::string choice = host().option("xpu.runtime", "auto");
  if (choice == "level_zero") return make_level_zero_runtime();
  if (choice == "opencl") return make_opencl_runtime(false);
  TSR_PLUGIN_CHECK_ARG(choice == "auto", "xpu.runtime must be level_zero, opencl or auto, not '%s'",
                       choice.c_str());
  auto rt = make_level_zero_runtime();
  if (rt->device_count() > 0 || !intel_render_node_visible()) return rt;
  auto ocl = make_opencl_runtime(true);
  if (ocl->device_count() > 0) return ocl;
  host().debug("no Intel GPU through OpenCL either: " + ocl->no_device_reason());
  return rt;
}

size_t ensure_initialized() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (r.initialized) return r.devices.size();
  r.runtime = choose_runtime();
  for (int i = 0; i < r.runtime->device_count(); ++i) {
    auto state = std::make_unique<DeviceState>();
    state->index = i;
    state->total_memory = r.runtime->info(i).total_memory;
    r.devices.push_back(std::move(state));
  }
  if (r.devices.empty()) {
    host().info(std::string("no XPU device (") + r.runtime->name() +
                "): " + r.runtime->no_device_reason());
  } else {
    host().info(sdk::format("XPU runtime %s: %zu device(s), device 0 is %s", r.runtime->name(),
                            r.devices.size(), r.runtime->info(0).name.c_str()));
  }
  r.initialized = true;
  return r.devices.size();
}

tsr_error* initialize() {
  return sdk::guard([] { ensure_initialized(); });
}

void shutdown() {}

tsr_error* device_count(int32_t* count) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(count != nullptr, "device_count: count is NULL");
    *count = static_cast<int32_t>(ensure_initialized());
  });
}

tsr_error* device_get_properties(int32_t index, tsr_device_properties* props) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(props != nullptr && props->struct_size >= sizeof(size_t),
                         "device_get_properties: props is NULL or has no struct_size");
    const DeviceState& dev = device_at(index);
    const RtDeviceInfo& info = runtime().info(index);
    tsr_device_properties full{};
    full.struct_size = sizeof full;
    std::snprintf(full.name, sizeof full.name, "%s", info.name.c_str());
    std::snprintf(full.vendor, sizeof full.vendor, "%s", info.vendor.c_str());
    std::snprintf(full.pci_bus_id, sizeof full.pci_bus_id, "%s", info.pci_bus_id.c_str());
    full.type = TSR_DEVICE_TYPE_XPU;
    full.total_memory = dev.total_memory;
    full.compute_units = info.compute_units;
    full.caps = TSR_DEVICE_CAP_PINNED_HOST;
    full.activation_dtypes =
        TSR_DTYPE_BIT(TSR_DTYPE_F32) | TSR_DTYPE_BIT(TSR_DTYPE_BF16) | TSR_DTYPE_BIT(TSR_DTYPE_F16);
    full.kv_cache_dtypes = full.activation_dtypes;
    // Every format up to the asymmetric ones (kernels/linear.cl), unless Level Zero has no
    // kernels (a build without the SPIR-V tools).
    const bool has_kernels =
        std::string(runtime().name()) != "level_zero" || kernel_program().spirv != nullptr;
    full.weight_formats = has_kernels ? (1u << (TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM + 1)) - 1 : 0;
    full.memory_bandwidth = 0;  // Level Zero's clock and bus width do not give it reliably
    const size_t fits = std::min(props->struct_size, sizeof full);
    std::memcpy(reinterpret_cast<char*>(props) + sizeof(size_t),
                reinterpret_cast<const char*>(&full) + sizeof(size_t), fits - sizeof(size_t));
  });
}

tsr_error* device_open(int32_t index, tsr_device_t* out) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "device_open: out is NULL");
    *out = new tsr_device_s{&device_at(index), index};
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
    const uint64_t total = device->dev->total_memory;
    const uint64_t used = std::min(total, device->dev->allocated.load());
    *total_bytes = total;
    *free_bytes = total - used;
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
  api.name = "xpu";
  api.version = "0.1.0";
  api.device_type = TSR_DEVICE_TYPE_XPU;
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
  api.diagnose = &diagnose;
  return api;
}

bool intel_render_node_visible() {
  DIR* dir = opendir("/sys/class/drm");
  if (dir == nullptr) return false;
  bool found = false;
  while (const dirent* entry = readdir(dir)) {
    if (std::strncmp(entry->d_name, "renderD", 7) != 0) continue;
    std::ifstream vendor(std::string("/sys/class/drm/") + entry->d_name + "/device/vendor");
    std::string id;
    if (vendor >> id && id == "0x8086") {
      found = true;
      break;
    }
  }
  closedir(dir);
  return found;
}

}  // namespace

sdk::Host& host() {
  static sdk::Host h;
  return h;
}

Runtime& runtime() {
  Registry& r = registry();
  TSR_PLUGIN_CHECK(r.runtime != nullptr, TSR_ERROR_CODE_FAILED_PRECONDITION,
                   "the XPU plugin is not initialized: call initialize first");
  return *r.runtime;
}

DeviceState& device_at(int32_t index) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  TSR_PLUGIN_CHECK(r.initialized, TSR_ERROR_CODE_FAILED_PRECONDITION,
                   "the XPU plugin is not initialized: call initialize first");
  const int32_t count = static_cast<int32_t>(r.devices.size());
  if (index < 0 || index >= count) {
    throw sdk::Error(TSR_ERROR_CODE_NOT_FOUND,
                     count == 0
                         ? sdk::format("XPU device %d not found: no device (%s: %s)", index,
                                       r.runtime->name(), r.runtime->no_device_reason().c_str())
                         : sdk::format("XPU device %d not found: %d device(s), valid indices 0..%d",
                                       index, count, count - 1));
  }
  return *r.devices[static_cast<size_t>(index)];
}

}  // namespace tsr::xpu

extern "C" TSR_PLUGIN_EXPORT const tsr_plugin_api* tsr_plugin_get_api(const tsr_host_api* host_api,
                                                                      uint32_t abi_major,
                                                                      uint32_t abi_minor) {
  tsr::xpu::host().attach(host_api, "xpu");
  if (abi_major != TSR_ABI_VERSION_MAJOR) {
    tsr::xpu::host().log(
        TSR_LOG_LEVEL_ERROR,
        tsr::sdk::format("libtessera-xpu.so was built for plugin ABI %d.%d; the host speaks "
                         "%u.%u: refusing to load",
                         TSR_ABI_VERSION_MAJOR, TSR_ABI_VERSION_MINOR, abi_major, abi_minor));
    return nullptr;
  }
  static const tsr_plugin_api api = tsr::xpu::make_api();
  return &api;
}

// Cheap and side-effect free: the loader library must load and an Intel render node must
// exist; no zeInit (which would start the driver).
extern "C" TSR_PLUGIN_EXPORT int32_t tsr_plugin_score(void) {
  void* loader = dlopen("libze_loader.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (loader == nullptr) return 0;
  dlclose(loader);
  return tsr::xpu::intel_render_node_visible() ? 100 : 0;
}
