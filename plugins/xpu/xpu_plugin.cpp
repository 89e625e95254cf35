// The XPU (Intel GPU, Level Zero) plugin's entry points: tsr_plugin_get_api,
// tsr_plugin_score, initialization, devices, KV block sizing and the function table.
//
// State: the device registry, filled once by initialize under a mutex. A machine without
// the loader, a driver or an Intel GPU is not an error: initialize succeeds with 0 devices
// and logs one line saying why. Ops are NULL until the SPIR-V kernels land.
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

namespace tsr::xpu {
namespace {

struct Registry {
  std::mutex mutex;
  bool initialized = false;
  std::string no_device_reason;
  std::vector<std::unique_ptr<XpuDevice>> devices;
};

Registry& registry() {
  static Registry r;
  return r;
}

bool means_no_driver(ze_result_t rc) {
  return rc == ZE_RESULT_ERROR_UNINITIALIZED || rc == ZE_RESULT_ERROR_DEVICE_LOST ||
         rc == ZE_RESULT_ERROR_DEPENDENCY_UNAVAILABLE ||
         rc == ZE_RESULT_ERROR_UNSUPPORTED_VERSION || rc == ZE_RESULT_ERROR_NOT_AVAILABLE;
}

uint32_t compute_ordinal(const ZeLoader& z, ze_device_handle_t device) {
  uint32_t count = 0;
  check(z.zeDeviceGetCommandQueueGroupProperties(device, &count, nullptr),
        "zeDeviceGetCommandQueueGroupProperties");
  std::vector<ze_command_queue_group_properties_t> groups(count);
  for (auto& g : groups) g.stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_GROUP_PROPERTIES;
  check(z.zeDeviceGetCommandQueueGroupProperties(device, &count, groups.data()),
        "zeDeviceGetCommandQueueGroupProperties");
  for (uint32_t i = 0; i < count; ++i) {
    if (groups[i].flags & ZE_COMMAND_QUEUE_GROUP_PROPERTY_FLAG_COMPUTE) return i;
  }
  throw sdk::Error(TSR_ERROR_CODE_UNAVAILABLE, "the Level Zero device has no compute queue group");
}

void enumerate(const ZeLoader& z, Registry& r) {
  if (const ze_result_t rc = z.zeInit(ZE_INIT_FLAG_GPU_ONLY); rc != ZE_RESULT_SUCCESS) {
    if (!means_no_driver(rc)) check(rc, "zeInit");
    r.no_device_reason = std::string("zeInit: ") + ze_result_name(rc);
    return;
  }
  uint32_t driver_count = 0;
  check(z.zeDriverGet(&driver_count, nullptr), "zeDriverGet");
  if (driver_count == 0) {
    r.no_device_reason = "no Level Zero GPU driver (zeDriverGet found none)";
    return;
  }
  std::vector<ze_driver_handle_t> drivers(driver_count);
  check(z.zeDriverGet(&driver_count, drivers.data()), "zeDriverGet");
  for (ze_driver_handle_t driver : drivers) {
    uint32_t device_count = 0;
    check(z.zeDeviceGet(driver, &device_count, nullptr), "zeDeviceGet");
    std::vector<ze_device_handle_t> devices(device_count);
    check(z.zeDeviceGet(driver, &device_count, devices.data()), "zeDeviceGet");
    ze_context_handle_t context = nullptr;
    for (ze_device_handle_t device : devices) {
      auto dev = std::make_unique<XpuDevice>();
      dev->props.stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES;
      check(z.zeDeviceGetProperties(device, &dev->props), "zeDeviceGetProperties");
      if (dev->props.type != ZE_DEVICE_TYPE_GPU) continue;
      if (context == nullptr) {
        ze_context_desc_t desc{ZE_STRUCTURE_TYPE_CONTEXT_DESC, nullptr, 0};
        check(z.zeContextCreate(driver, &desc, &context), "zeContextCreate");
      }
      uint32_t memory_count = 0;
      check(z.zeDeviceGetMemoryProperties(device, &memory_count, nullptr),
            "zeDeviceGetMemoryProperties");
      std::vector<ze_device_memory_properties_t> memories(memory_count);
      for (auto& m : memories) m.stype = ZE_STRUCTURE_TYPE_DEVICE_MEMORY_PROPERTIES;
      check(z.zeDeviceGetMemoryProperties(device, &memory_count, memories.data()),
            "zeDeviceGetMemoryProperties");
      for (const auto& m : memories) dev->total_memory += m.totalSize;
      dev->driver = driver;
      dev->device = device;
      dev->context = context;
      dev->compute_ordinal = compute_ordinal(z, device);
      r.devices.push_back(std::move(dev));
    }
  }
  if (r.devices.empty()) r.no_device_reason = "the Level Zero drivers expose no GPU";
}

size_t ensure_initialized() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (r.initialized) return r.devices.size();
  const ZeLoader& z = ze_loader();
  if (!z.loaded()) {
    r.no_device_reason = "Level Zero loader not found (" + z.error + ")";
  } else {
    enumerate(z, r);
  }
  if (r.devices.empty()) host().info("no Level Zero GPU: " + r.no_device_reason);
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
    const XpuDevice& dev = device_at(index);
    tsr_device_properties full{};
    full.struct_size = sizeof full;
    std::snprintf(full.name, sizeof full.name, "%s", dev.props.name);
    std::snprintf(full.vendor, sizeof full.vendor, "Intel");
    if (ze().zeDevicePciGetPropertiesExt != nullptr) {
      ze_pci_ext_properties_t pci{};
      pci.stype = ZE_STRUCTURE_TYPE_PCI_EXT_PROPERTIES;
      if (ze().zeDevicePciGetPropertiesExt(dev.device, &pci) == ZE_RESULT_SUCCESS) {
        std::snprintf(full.pci_bus_id, sizeof full.pci_bus_id, "%04x:%02x:%02x.%x",
                      pci.address.domain, pci.address.bus, pci.address.device,
                      pci.address.function);
      }
    }
    full.type = TSR_DEVICE_TYPE_XPU;
    full.total_memory = dev.total_memory;
    full.compute_units =
        dev.props.numSlices * dev.props.numSubslicesPerSlice * dev.props.numEUsPerSubslice;
    full.caps = TSR_DEVICE_CAP_PINNED_HOST;
    full.activation_dtypes =
        TSR_DTYPE_BIT(TSR_DTYPE_F32) | TSR_DTYPE_BIT(TSR_DTYPE_BF16) | TSR_DTYPE_BIT(TSR_DTYPE_F16);
    full.kv_cache_dtypes = full.activation_dtypes;
    full.weight_formats = 0;    // weight_prepack arrives with the kernels
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

tsr_error* weight_prepack(tsr_device_t, const tsr_weight_desc*, tsr_weight_t*) {
  return sdk::make_error(TSR_ERROR_CODE_UNIMPLEMENTED,
                         "the XPU plugin does not prepack weights yet (no GPU linear kernel)");
}

tsr_error* weight_destroy(tsr_weight_t) {
  return sdk::make_error(TSR_ERROR_CODE_INVALID_ARGUMENT,
                         "weight_destroy: the XPU plugin made no weights");
}

tsr_error* weight_bytes(tsr_weight_t, uint64_t*) {
  return sdk::make_error(TSR_ERROR_CODE_INVALID_ARGUMENT,
                         "weight_bytes: the XPU plugin made no weights");
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

const tsr_ops_api kOps = [] {
  tsr_ops_api ops{};
  ops.struct_size = sizeof ops;
  ops.copy_blocks = &copy_blocks;
  ops.swap_blocks = &swap_blocks;
  return ops;
}();

int op_supported(tsr_device_t, tsr_op_id op, const void*) {
  return op == TSR_OP_COPY_BLOCKS || op == TSR_OP_SWAP_BLOCKS ? 1 : 0;
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
  api.ops = &kOps;
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

const ZeLoader& ze() {
  return ze_loader();
}

void check(ze_result_t rc, const char* what) {
  if (rc == ZE_RESULT_SUCCESS) return;
  tsr_error_code code = TSR_ERROR_CODE_INTERNAL;
  if (rc == ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY || rc == ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY) {
    code = TSR_ERROR_CODE_RESOURCE_EXHAUSTED;
  } else if (rc == ZE_RESULT_ERROR_DEVICE_LOST || rc == ZE_RESULT_ERROR_UNINITIALIZED) {
    code = TSR_ERROR_CODE_UNAVAILABLE;
  }
  throw sdk::Error(code, sdk::format("%s failed: %s (0x%x)", what, ze_result_name(rc),
                                     static_cast<unsigned>(rc)));
}

const XpuDevice& device_at(int32_t index) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  TSR_PLUGIN_CHECK(r.initialized, TSR_ERROR_CODE_FAILED_PRECONDITION,
                   "the XPU plugin is not initialized: call initialize first");
  const int32_t count = static_cast<int32_t>(r.devices.size());
  if (index < 0 || index >= count) {
    throw sdk::Error(TSR_ERROR_CODE_NOT_FOUND,
                     count == 0
                         ? sdk::format("XPU device %d not found: no Level Zero GPU (%s)", index,
                                       r.no_device_reason.c_str())
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
