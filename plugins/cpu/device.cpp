// The CPU plugin's devices: the host's CPUs and memory, one device by default. Tensor
// parallelism on one host asks for N of them with the host option cpu.devices=N: N core
// groups of cpu.num_threads threads each, sharing the host's memory, joined by the
// thread collectives (collectives.cpp). Properties come from /proc/cpuinfo, /proc/meminfo
// and the active kernel ISA.
#include <cstdlib>
#include <cstring>
#include <string>

#include "api_functions.h"
#include "cpu_internal.h"
#include "host_info.h"
#include "isa.h"

namespace tsr::cpu {

tsr_device_s* check_device(tsr_device_t device, const char* what) {
  TSR_PLUGIN_CHECK_ARG(device != nullptr && device->magic == kDeviceMagic,
                       "%s: not a valid cpu device handle", what);
  return device;
}

namespace {

constexpr int32_t kMaxDevices = 256;

// cpu.devices: the number of core-group devices (default 1; an invalid value counts as 1,
// which the host's "needs N devices" message then names).
int32_t configured_devices() {
  const char* text = host().option("cpu.devices");
  if (text == nullptr) return 1;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  return end != text && *end == '\0' && value >= 1 && value <= kMaxDevices
             ? static_cast<int32_t>(value)
             : 1;
}

void check_index(int32_t index) {
  const int32_t count = configured_devices();
  TSR_PLUGIN_CHECK(index >= 0 && index < count, TSR_ERROR_CODE_NOT_FOUND,
                   "cpu device %d does not exist (the cpu plugin has %d device(s); "
                   "--plugin-option cpu.devices=N makes N)",
                   index, count);
}

void copy_string(char* dst, size_t capacity, const std::string& src) {
  const size_t n = src.size() < capacity - 1 ? src.size() : capacity - 1;
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

}  // namespace

namespace api {

tsr_error* device_count(int32_t* count) {
  return tsr::sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(count != nullptr, "device_count: count is NULL");
    *count = configured_devices();
  });
}

tsr_error* device_get_properties(int32_t index, tsr_device_properties* props) {
  return tsr::sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(props != nullptr, "device_get_properties: props is NULL");
    check_index(index);
    tsr_device_properties full{};
    full.struct_size = sizeof full;
    const Isa isa = is_initialized() ? active_isa() : detect_isa();
    copy_string(full.name, sizeof full.name, cpu_model_name() + " (" + isa_name(isa) + ")");
    copy_string(full.vendor, sizeof full.vendor, "cpu");
    full.pci_bus_id[0] = '\0';
    full.type = TSR_DEVICE_TYPE_CPU;
    full.total_memory = meminfo_bytes("MemTotal");
    full.compute_units = static_cast<uint32_t>(affinity_count());
    // Buffers are plain host memory: host-addressable, but HOST_PINNED is not mlock'ed,
    // so PINNED_HOST is not claimed. Collectives work between threads of this process.
    full.caps = TSR_DEVICE_CAP_UNIFIED_HOST | TSR_DEVICE_CAP_COLLECTIVES;
    // Replaying recorded ops saves nothing on a CPU and the engine would pad decode batches
    // for it, so graphs are claimed only on request: tests turn them on to run the engine's
    // graph path without a GPU.
    if (const char* graphs = host().option("cpu.graphs");
        graphs != nullptr && std::string(graphs) == "1") {
      full.caps |= TSR_DEVICE_CAP_GRAPHS;
    }
    if (linear_out_parts_enabled()) full.caps |= TSR_DEVICE_CAP_LINEAR_OUT_PARTS;
    full.activation_dtypes =
        TSR_DTYPE_BIT(TSR_DTYPE_F32) | TSR_DTYPE_BIT(TSR_DTYPE_BF16) | TSR_DTYPE_BIT(TSR_DTYPE_F16);
    full.kv_cache_dtypes = full.activation_dtypes;
    full.weight_formats = 0;
    for (int f = TSR_WEIGHT_FORMAT_F32; f <= TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM; ++f) {
      full.weight_formats |= TSR_WEIGHT_FORMAT_BIT(f);
    }
    full.memory_bandwidth = 0;
    // Write only the fields the caller's struct_size covers; keep its struct_size.
    const size_t header = sizeof(size_t);
    const size_t limit = props->struct_size < sizeof full ? props->struct_size : sizeof full;
    if (limit > header) {
      std::memcpy(reinterpret_cast<char*>(props) + header, reinterpret_cast<char*>(&full) + header,
                  limit - header);
    }
  });
}

tsr_error* device_open(int32_t index, tsr_device_t* out) {
  return tsr::sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "device_open: out is NULL");
    require_initialized("device_open");
    check_index(index);
    *out = new tsr_device_s();
  });
}

tsr_error* device_close(tsr_device_t device) {
  return tsr::sdk::guard([&] {
    tsr_device_s* d = check_device(device, "device_close");
    const int64_t live = d->live.load();
    TSR_PLUGIN_CHECK(live == 0, TSR_ERROR_CODE_FAILED_PRECONDITION,
                     "device_close: %lld buffers/streams/events/weights made on this device are "
                     "still alive",
                     static_cast<long long>(live));
    d->magic = kDeadMagic;
    delete d;
  });
}

tsr_error* device_memory_info(tsr_device_t device, uint64_t* free_bytes, uint64_t* total_bytes) {
  return tsr::sdk::guard([&] {
    check_device(device, "device_memory_info");
    TSR_PLUGIN_CHECK_ARG(free_bytes != nullptr && total_bytes != nullptr,
                         "device_memory_info: free_bytes and total_bytes must not be NULL");
    *total_bytes = meminfo_bytes("MemTotal");
    *free_bytes = meminfo_bytes("MemAvailable");
  });
}

}  // namespace api
}  // namespace tsr::cpu
