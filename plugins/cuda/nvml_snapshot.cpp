// Reads an NvmlSnapshot through NVML loaded with dlopen.
//
// The NVML declarations below are written by hand: no package on the build machines ships
// nvml.h (it comes with the driver or the CUDA "nvml_dev" component, neither required
// here). They are the documented, versioned C entry points of NVML, whose ABI NVIDIA keeps
// stable (new behaviour gets a new _vN symbol). Optional entry points that older drivers
// lack are looked up one by one; a missing one leaves its reading absent.
#include "nvml_snapshot.h"

#include <dlfcn.h>

namespace tsr::cuda {
namespace {

using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
constexpr nvmlReturn_t kNvmlSuccess = 0;
constexpr int kClockSm = 1;
constexpr int kClockMem = 2;

struct NvmlBar1Memory {
  unsigned long long bar1_total;
  unsigned long long bar1_free;
  unsigned long long bar1_used;
};
struct NvmlMemory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
struct NvmlPciInfoV3 {
  char bus_id_legacy[16];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pci_device_id;
  unsigned int pci_subsystem_id;
  char bus_id[32];
};

using InitFn = nvmlReturn_t (*)();
using ErrorStringFn = const char* (*)(nvmlReturn_t);
using StringFn = nvmlReturn_t (*)(char*, unsigned int);
using IntFn = nvmlReturn_t (*)(int*);
using CountFn = nvmlReturn_t (*)(unsigned int*);
using HandleFn = nvmlReturn_t (*)(unsigned int, nvmlDevice_t*);
using DevStringFn = nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned int);
using DevPciFn = nvmlReturn_t (*)(nvmlDevice_t, NvmlPciInfoV3*);
using DevClockFn = nvmlReturn_t (*)(nvmlDevice_t, int, unsigned int*);
using DevU64Fn = nvmlReturn_t (*)(nvmlDevice_t, unsigned long long*);
using DevBar1Fn = nvmlReturn_t (*)(nvmlDevice_t, NvmlBar1Memory*);
using DevMemFn = nvmlReturn_t (*)(nvmlDevice_t, NvmlMemory*);
using DevUintFn = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*);
using DevStateFn = nvmlReturn_t (*)(nvmlDevice_t, int*);
using DevEccFn = nvmlReturn_t (*)(nvmlDevice_t, int*, int*);

class Library {
 public:
  explicit Library(const char* soname) : handle_(dlopen(soname, RTLD_NOW | RTLD_LOCAL)) {}
  ~Library() {
    if (handle_ != nullptr) dlclose(handle_);
  }
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  bool loaded() const { return handle_ != nullptr; }
  template <class Fn>
  Fn get(const char* symbol) const {
    return reinterpret_cast<Fn>(dlsym(handle_, symbol));
  }

 private:
  void* handle_;
};

template <class Fn, class... Args>
std::optional<uint32_t> read_uint(Fn fn, nvmlDevice_t device, Args... args) {
  unsigned int value = 0;
  if (fn == nullptr || fn(device, args..., &value) != kNvmlSuccess) return std::nullopt;
  return value;
}

NvmlGpuReading read_gpu(const Library& nvml, unsigned int index, nvmlDevice_t device) {
  NvmlGpuReading gpu;
  gpu.index = static_cast<int>(index);
  char name[96] = {};
  if (auto fn = nvml.get<DevStringFn>("nvmlDeviceGetName");
      fn && fn(device, name, sizeof name) == kNvmlSuccess) {
    gpu.name = name;
  }
  NvmlPciInfoV3 pci{};
  if (auto fn = nvml.get<DevPciFn>("nvmlDeviceGetPciInfo_v3");
      fn && fn(device, &pci) == kNvmlSuccess) {
    gpu.pci_bus_id = pci.bus_id;
  }
  const auto clock = nvml.get<DevClockFn>("nvmlDeviceGetClockInfo");
  const auto max_clock = nvml.get<DevClockFn>("nvmlDeviceGetMaxClockInfo");
  gpu.sm_clock_mhz = read_uint(clock, device, kClockSm);
  gpu.sm_clock_max_mhz = read_uint(max_clock, device, kClockSm);
  gpu.mem_clock_mhz = read_uint(clock, device, kClockMem);
  gpu.mem_clock_max_mhz = read_uint(max_clock, device, kClockMem);
  gpu.app_sm_clock_mhz =
      read_uint(nvml.get<DevClockFn>("nvmlDeviceGetApplicationsClock"), device, kClockSm);
  gpu.default_app_sm_clock_mhz =
      read_uint(nvml.get<DevClockFn>("nvmlDeviceGetDefaultApplicationsClock"), device, kClockSm);

  // Renamed from "throttle" to "event" reasons in R535; the bitmask is the same.
  auto reasons_fn = nvml.get<DevU64Fn>("nvmlDeviceGetCurrentClocksEventReasons");
  if (reasons_fn == nullptr)
    reasons_fn = nvml.get<DevU64Fn>("nvmlDeviceGetCurrentClocksThrottleReasons");
  unsigned long long reasons = 0;
  if (reasons_fn != nullptr && reasons_fn(device, &reasons) == kNvmlSuccess)
    gpu.clock_event_reasons = reasons;

  NvmlBar1Memory bar1{};
  if (auto fn = nvml.get<DevBar1Fn>("nvmlDeviceGetBAR1MemoryInfo");
      fn && fn(device, &bar1) == kNvmlSuccess) {
    gpu.bar1_total_bytes = bar1.bar1_total;
  }
  NvmlMemory memory{};
  if (auto fn = nvml.get<DevMemFn>("nvmlDeviceGetMemoryInfo");
      fn && fn(device, &memory) == kNvmlSuccess) {
    gpu.memory_total_bytes = memory.total;
  }
  gpu.pcie_gen_current =
      read_uint(nvml.get<DevUintFn>("nvmlDeviceGetCurrPcieLinkGeneration"), device);
  gpu.pcie_gen_max = read_uint(nvml.get<DevUintFn>("nvmlDeviceGetMaxPcieLinkGeneration"), device);
  gpu.pcie_gen_gpu_max =
      read_uint(nvml.get<DevUintFn>("nvmlDeviceGetGpuMaxPcieLinkGeneration"), device);
  gpu.pcie_width_current = read_uint(nvml.get<DevUintFn>("nvmlDeviceGetCurrPcieLinkWidth"), device);
  gpu.pcie_width_max = read_uint(nvml.get<DevUintFn>("nvmlDeviceGetMaxPcieLinkWidth"), device);

  int state = 0;
  if (auto fn = nvml.get<DevStateFn>("nvmlDeviceGetPersistenceMode");
      fn && fn(device, &state) == kNvmlSuccess) {
    gpu.persistence_mode = state != 0;
  }
  int current = 0;
  int pending = 0;
  if (auto fn = nvml.get<DevEccFn>("nvmlDeviceGetEccMode");
      fn && fn(device, &current, &pending) == kNvmlSuccess) {
    gpu.ecc_current = current != 0;
    gpu.ecc_pending = pending != 0;
  }
  return gpu;
}

}  // namespace

NvmlSnapshot read_nvml_snapshot(const char* library) {
  NvmlSnapshot snapshot;
  Library nvml(library);
  if (!nvml.loaded()) return snapshot;
  snapshot.library_found = true;

  const auto init = nvml.get<InitFn>("nvmlInit_v2");
  const auto shutdown = nvml.get<InitFn>("nvmlShutdown");
  const auto error_string = nvml.get<ErrorStringFn>("nvmlErrorString");
  if (init == nullptr || shutdown == nullptr) {
    snapshot.init_error = "nvmlInit_v2 not found in the NVML library";
    return snapshot;
  }
  if (const nvmlReturn_t rc = init(); rc != kNvmlSuccess) {
    snapshot.init_error = error_string != nullptr ? error_string(rc) : "nvmlInit_v2 failed";
    return snapshot;
  }
  char version[96] = {};
  if (auto fn = nvml.get<StringFn>("nvmlSystemGetDriverVersion");
      fn && fn(version, sizeof version) == kNvmlSuccess) {
    snapshot.driver_version = version;
  }
  int cuda_version = 0;
  if (auto fn = nvml.get<IntFn>("nvmlSystemGetCudaDriverVersion_v2");
      fn && fn(&cuda_version) == kNvmlSuccess) {
    snapshot.cuda_driver_version = cuda_version;
  }
  unsigned int count = 0;
  const auto get_count = nvml.get<CountFn>("nvmlDeviceGetCount_v2");
  const auto get_handle = nvml.get<HandleFn>("nvmlDeviceGetHandleByIndex_v2");
  if (get_count != nullptr && get_handle != nullptr && get_count(&count) == kNvmlSuccess) {
    for (unsigned int i = 0; i < count; ++i) {
      nvmlDevice_t device = nullptr;
      if (get_handle(i, &device) == kNvmlSuccess)
        snapshot.gpus.push_back(read_gpu(nvml, i, device));
    }
  }
  shutdown();
  return snapshot;
}

}  // namespace tsr::cuda
