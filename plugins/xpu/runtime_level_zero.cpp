// The XPU plugin's Level Zero runtime (see xpu_runtime.h): Intel GPUs through the loader
// opened with dlopen (ze_loader.h). A machine without the loader, a driver or an Intel GPU
// gives a runtime with no device and a reason, not an error.
//
// Device buffers come from zeMemAllocDevice, host-visible ones from zeMemAllocHost (USM host
// memory the GPU reads over PCIe). A queue is an immediate command list; every command is
// followed by a barrier, because Level Zero does not promise that commands of one list run
// one after another without barriers or events. A write from memory that is not USM host
// memory is waited for before returning (the caller may reuse a pageable source then).
// Kernels come from the SPIR-V module built at build time (kernels/*.cl through clang and
// llvm-spirv), created once per device. Nothing here has run on Intel hardware yet
// (docs/xpu-plugin.md lists what is unverified).
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/plugin.hpp"
#include "xpu_runtime.h"
#include "ze_loader.h"

namespace tsr::xpu {
namespace {

constexpr size_t kAlignment = 64;

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

bool means_no_driver(ze_result_t rc) {
  return rc == ZE_RESULT_ERROR_UNINITIALIZED || rc == ZE_RESULT_ERROR_DEVICE_LOST ||
         rc == ZE_RESULT_ERROR_DEPENDENCY_UNAVAILABLE ||
         rc == ZE_RESULT_ERROR_UNSUPPORTED_VERSION || rc == ZE_RESULT_ERROR_NOT_AVAILABLE;
}

struct ZeDevice {
  ze_driver_handle_t driver = nullptr;
  ze_device_handle_t device = nullptr;
  ze_context_handle_t context = nullptr;
  uint32_t compute_ordinal = 0;
  ze_device_properties_t props{};
  RtDeviceInfo info;
  std::mutex mutex;  // guards the module, kernels and argument setting + append
  ze_module_handle_t module = nullptr;
  std::map<std::string, ze_kernel_handle_t> kernels;
};

struct ZeQueue {
  ZeDevice* device = nullptr;
  ze_command_list_handle_t list = nullptr;
  ze_event_pool_handle_t pool = nullptr;
  ze_event_handle_t done = nullptr;  // signalled by the barrier that finish appends
};

struct ZeEvent {
  ZeDevice* device = nullptr;
  ze_event_pool_handle_t pool = nullptr;
  ze_event_handle_t event = nullptr;
};

uint32_t compute_ordinal(ze_device_handle_t device) {
  uint32_t count = 0;
  check(ze().zeDeviceGetCommandQueueGroupProperties(device, &count, nullptr),
        "zeDeviceGetCommandQueueGroupProperties");
  std::vector<ze_command_queue_group_properties_t> groups(count);
  for (auto& g : groups) g.stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_GROUP_PROPERTIES;
  check(ze().zeDeviceGetCommandQueueGroupProperties(device, &count, groups.data()),
        "zeDeviceGetCommandQueueGroupProperties");
  for (uint32_t i = 0; i < count; ++i) {
    if (groups[i].flags & ZE_COMMAND_QUEUE_GROUP_PROPERTY_FLAG_COMPUTE) return i;
  }
  throw sdk::Error(TSR_ERROR_CODE_UNAVAILABLE, "the Level Zero device has no compute queue group");
}

ze_event_pool_handle_t make_pool(const ZeDevice& dev, ze_event_pool_flags_t flags) {
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

class LevelZeroRuntime final : public Runtime {
 public:
  LevelZeroRuntime() {
    if (!ze().loaded()) {
      reason_ = "Level Zero loader not found (" + ze().error + ")";
      return;
    }
    enumerate();
  }

  const char* name() const override { return "level_zero"; }
  const std::string& no_device_reason() const override { return reason_; }
  int device_count() const override { return static_cast<int>(devices_.size()); }
  const RtDeviceInfo& info(int device) const override { return devices_.at(device)->info; }

  RtMem alloc(int device, size_t bytes, bool host, void** host_ptr) override {
    const ZeDevice& dev = *devices_.at(device);
    void* ptr = nullptr;
    if (!host) {
      ze_device_mem_alloc_desc_t desc{ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC, nullptr, 0, 0};
      check(ze().zeMemAllocDevice(dev.context, &desc, bytes, kAlignment, dev.device, &ptr),
            sdk::format("zeMemAllocDevice(%zu bytes)", bytes).c_str());
    } else {
      ze_host_mem_alloc_desc_t desc{ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC, nullptr, 0};
      check(ze().zeMemAllocHost(dev.context, &desc, bytes, kAlignment, &ptr),
            sdk::format("zeMemAllocHost(%zu bytes)", bytes).c_str());
      if (host_ptr != nullptr) *host_ptr = ptr;
    }
    return ptr;
  }

  void free(int device, RtMem mem) override {
    check(ze().zeMemFree(devices_.at(device)->context, mem), "zeMemFree");
  }

  RtQueue queue_create(int device) override {
    ZeDevice& dev = *devices_.at(device);
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
    return new ZeQueue{&dev, list, pool, done};
  }

  void queue_destroy(RtQueue queue) override {
    std::unique_ptr<ZeQueue> q(static_cast<ZeQueue*>(queue));
    check(ze().zeEventDestroy(q->done), "zeEventDestroy");
    check(ze().zeEventPoolDestroy(q->pool), "zeEventPoolDestroy");
    check(ze().zeCommandListDestroy(q->list), "zeCommandListDestroy");
  }

  void queue_finish(RtQueue queue) override {
    const auto* q = static_cast<ZeQueue*>(queue);
    check(ze().zeCommandListAppendBarrier(q->list, q->done, 0, nullptr),
          "zeCommandListAppendBarrier");
    check(ze().zeEventHostSynchronize(q->done, UINT64_MAX), "zeEventHostSynchronize");
    check(ze().zeEventHostReset(q->done), "zeEventHostReset");
  }

  void copy(RtQueue queue, RtMem dst, size_t dst_offset, RtMem src, size_t src_offset,
            size_t bytes) override {
    append_copy(queue, static_cast<char*>(dst) + dst_offset,
                static_cast<const char*>(src) + src_offset, bytes);
    fence(queue);
  }

  void write(RtQueue queue, RtMem dst, size_t offset, const void* src, size_t bytes) override {
    append_copy(queue, static_cast<char*>(dst) + offset, src, bytes);
    if (is_usm_host(*static_cast<ZeQueue*>(queue)->device, src)) {
      fence(queue);
    } else {
      queue_finish(queue);
    }
  }

  void read(RtQueue queue, void* dst, RtMem src, size_t offset, size_t bytes) override {
    append_copy(queue, dst, static_cast<const char*>(src) + offset, bytes);
    fence(queue);
  }

  void fill(RtQueue queue, RtMem dst, size_t offset, uint8_t value, size_t bytes) override {
    check(ze().zeCommandListAppendMemoryFill(static_cast<ZeQueue*>(queue)->list,
                                             static_cast<char*>(dst) + offset, &value, 1, bytes,
                                             nullptr, 0, nullptr),
          "zeCommandListAppendMemoryFill");
    fence(queue);
  }

  RtEvent event_create(int device) override {
    ZeDevice& dev = *devices_.at(device);
    ze_event_pool_handle_t pool =
        make_pool(dev, ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP);
    return new ZeEvent{&dev, pool, make_event(pool)};
  }

  void event_destroy(RtEvent event) override {
    std::unique_ptr<ZeEvent> e(static_cast<ZeEvent*>(event));
    check(ze().zeEventDestroy(e->event), "zeEventDestroy");
    check(ze().zeEventPoolDestroy(e->pool), "zeEventPoolDestroy");
  }

  void event_record(RtEvent event, RtQueue queue) override {
    const auto* q = static_cast<ZeQueue*>(queue);
    ze_event_handle_t e = static_cast<ZeEvent*>(event)->event;
    check(ze().zeCommandListAppendEventReset(q->list, e), "zeCommandListAppendEventReset");
    // The barrier waits for everything before it, then signals (and timestamps) the event.
    check(ze().zeCommandListAppendBarrier(q->list, e, 0, nullptr), "zeCommandListAppendBarrier");
  }

  void event_wait_host(RtEvent event) override {
    check(ze().zeEventHostSynchronize(static_cast<ZeEvent*>(event)->event, UINT64_MAX),
          "zeEventHostSynchronize");
  }

  void queue_wait_event(RtQueue queue, RtEvent event) override {
    ze_event_handle_t e = static_cast<ZeEvent*>(event)->event;
    check(ze().zeCommandListAppendWaitOnEvents(static_cast<ZeQueue*>(queue)->list, 1, &e),
          "zeCommandListAppendWaitOnEvents");
  }

  float elapsed_ms(RtEvent start, RtEvent end) override {
    const auto* a = static_cast<ZeEvent*>(start);
    const auto* b = static_cast<ZeEvent*>(end);
    ze_kernel_timestamp_result_t ta{};
    ze_kernel_timestamp_result_t tb{};
    check(ze().zeEventQueryKernelTimestamp(a->event, &ta), "zeEventQueryKernelTimestamp");
    check(ze().zeEventQueryKernelTimestamp(b->event, &tb), "zeEventQueryKernelTimestamp");
    const uint32_t bits = a->device->props.kernelTimestampValidBits;
    const uint64_t mask = bits >= 64 ? ~0ull : ((1ull << bits) - 1);
    const uint64_t ticks = (tb.global.kernelEnd - ta.global.kernelEnd) & mask;
    // ze_device_properties_t (not the _1_2 variant) gives timerResolution in ns per tick.
    return static_cast<float>(static_cast<double>(ticks) *
                              static_cast<double>(a->device->props.timerResolution) / 1e6);
  }

  RtKernel kernel(int device, const char* name) override {
    ZeDevice& dev = *devices_.at(device);
    std::lock_guard<std::mutex> lock(dev.mutex);
    if (auto it = dev.kernels.find(name); it != dev.kernels.end()) return it->second;
    if (dev.module == nullptr) create_module(dev);
    ze_kernel_desc_t desc{ZE_STRUCTURE_TYPE_KERNEL_DESC, nullptr, 0, name};
    ze_kernel_handle_t k = nullptr;
    check(ze().zeKernelCreate(dev.module, &desc, &k),
          sdk::format("zeKernelCreate(%s)", name).c_str());
    dev.kernels.emplace(name, k);
    return k;
  }

  void launch(RtQueue queue, RtKernel kernel, const KernelArg* args, size_t num_args,
              const size_t groups[3], const size_t local[3]) override {
    auto* q = static_cast<ZeQueue*>(queue);
    auto k = static_cast<ze_kernel_handle_t>(kernel);
    if (groups[0] == 0 || groups[1] == 0 || groups[2] == 0) return;
    std::lock_guard<std::mutex> lock(q->device->mutex);
    check(
        ze().zeKernelSetGroupSize(k, static_cast<uint32_t>(local[0]),
                                  static_cast<uint32_t>(local[1]), static_cast<uint32_t>(local[2])),
        "zeKernelSetGroupSize");
    uint32_t index = 0;
    for (size_t i = 0; i < num_args; ++i) {
      if (args[i].kind == KernelArg::Kind::kBuffer) {
        void* base = args[i].mem;
        const uint64_t offset = args[i].offset;
        check(ze().zeKernelSetArgumentValue(k, index++, sizeof base, &base),
              "zeKernelSetArgumentValue");
        check(ze().zeKernelSetArgumentValue(k, index++, sizeof offset, &offset),
              "zeKernelSetArgumentValue");
      } else {
        check(ze().zeKernelSetArgumentValue(k, index++, args[i].size, args[i].value),
              "zeKernelSetArgumentValue");
      }
    }
    const ze_group_count_t count{static_cast<uint32_t>(groups[0]), static_cast<uint32_t>(groups[1]),
                                 static_cast<uint32_t>(groups[2])};
    check(ze().zeCommandListAppendLaunchKernel(q->list, k, &count, nullptr, 0, nullptr),
          "zeCommandListAppendLaunchKernel");
    fence(queue);
  }

 private:
  static void append_copy(RtQueue queue, void* dst, const void* src, size_t bytes) {
    check(ze().zeCommandListAppendMemoryCopy(static_cast<ZeQueue*>(queue)->list, dst, src, bytes,
                                             nullptr, 0, nullptr),
          "zeCommandListAppendMemoryCopy");
  }

  static void fence(RtQueue queue) {
    check(ze().zeCommandListAppendBarrier(static_cast<ZeQueue*>(queue)->list, nullptr, 0, nullptr),
          "zeCommandListAppendBarrier");
  }

  static bool is_usm_host(const ZeDevice& dev, const void* ptr) {
    ze_memory_allocation_properties_t props{};
    props.stype = ZE_STRUCTURE_TYPE_MEMORY_ALLOCATION_PROPERTIES;
    return ze().zeMemGetAllocProperties(dev.context, ptr, &props, nullptr) == ZE_RESULT_SUCCESS &&
           props.type == ZE_MEMORY_TYPE_HOST;
  }

  static void create_module(ZeDevice& dev) {
    const KernelProgram& prog = kernel_program();
    TSR_PLUGIN_CHECK(prog.spirv != nullptr, TSR_ERROR_CODE_UNIMPLEMENTED,
                     "this XPU plugin was built without SPIR-V kernels (clang-14 and "
                     "llvm-spirv-14 were missing at build time); xpu.runtime=opencl runs the "
                     "same kernels from source");
    ze_module_desc_t desc{};
    desc.stype = ZE_STRUCTURE_TYPE_MODULE_DESC;
    desc.format = ZE_MODULE_FORMAT_IL_SPIRV;
    desc.inputSize = prog.spirv_size;
    desc.pInputModule = prog.spirv;
    desc.pBuildFlags = "";
    ze_module_build_log_handle_t log = nullptr;
    const ze_result_t rc = ze().zeModuleCreate(dev.context, dev.device, &desc, &dev.module, &log);
    std::string text;
    if (rc != ZE_RESULT_SUCCESS && log != nullptr) {
      size_t size = 0;
      ze().zeModuleBuildLogGetString(log, &size, nullptr);
      text.resize(size);
      ze().zeModuleBuildLogGetString(log, &size, text.data());
    }
    if (log != nullptr) ze().zeModuleBuildLogDestroy(log);
    if (rc != ZE_RESULT_SUCCESS) {
      dev.module = nullptr;
      throw sdk::Error(TSR_ERROR_CODE_INTERNAL,
                       sdk::format("zeModuleCreate of the XPU kernels failed: %s: %s",
                                   ze_result_name(rc), text.substr(0, 4000).c_str()));
    }
  }

  void enumerate() {
    if (const ze_result_t rc = ze().zeInit(ZE_INIT_FLAG_GPU_ONLY); rc != ZE_RESULT_SUCCESS) {
      if (!means_no_driver(rc)) check(rc, "zeInit");
      reason_ = std::string("zeInit: ") + ze_result_name(rc);
      return;
    }
    uint32_t driver_count = 0;
    check(ze().zeDriverGet(&driver_count, nullptr), "zeDriverGet");
    if (driver_count == 0) {
      reason_ = "no Level Zero GPU driver (zeDriverGet found none)";
      return;
    }
    std::vector<ze_driver_handle_t> drivers(driver_count);
    check(ze().zeDriverGet(&driver_count, drivers.data()), "zeDriverGet");
    for (ze_driver_handle_t driver : drivers) add_driver_devices(driver);
    if (devices_.empty()) reason_ = "the Level Zero drivers expose no GPU";
  }

  void add_driver_devices(ze_driver_handle_t driver) {
    uint32_t device_count = 0;
    check(ze().zeDeviceGet(driver, &device_count, nullptr), "zeDeviceGet");
    std::vector<ze_device_handle_t> devices(device_count);
    check(ze().zeDeviceGet(driver, &device_count, devices.data()), "zeDeviceGet");
    ze_context_handle_t context = nullptr;
    for (ze_device_handle_t device : devices) {
      auto dev = std::make_unique<ZeDevice>();
      dev->props.stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES;
      check(ze().zeDeviceGetProperties(device, &dev->props), "zeDeviceGetProperties");
      if (dev->props.type != ZE_DEVICE_TYPE_GPU) continue;
      if (context == nullptr) {
        ze_context_desc_t desc{ZE_STRUCTURE_TYPE_CONTEXT_DESC, nullptr, 0};
        check(ze().zeContextCreate(driver, &desc, &context), "zeContextCreate");
      }
      uint32_t memory_count = 0;
      check(ze().zeDeviceGetMemoryProperties(device, &memory_count, nullptr),
            "zeDeviceGetMemoryProperties");
      std::vector<ze_device_memory_properties_t> memories(memory_count);
      for (auto& m : memories) m.stype = ZE_STRUCTURE_TYPE_DEVICE_MEMORY_PROPERTIES;
      check(ze().zeDeviceGetMemoryProperties(device, &memory_count, memories.data()),
            "zeDeviceGetMemoryProperties");
      for (const auto& m : memories) dev->info.total_memory += m.totalSize;
      dev->driver = driver;
      dev->device = device;
      dev->context = context;
      dev->compute_ordinal = compute_ordinal(device);
      dev->info.name = dev->props.name;
      dev->info.vendor = "Intel";
      dev->info.compute_units =
          dev->props.numSlices * dev->props.numSubslicesPerSlice * dev->props.numEUsPerSubslice;
      if (ze().zeDevicePciGetPropertiesExt != nullptr) {
        ze_pci_ext_properties_t pci{};
        pci.stype = ZE_STRUCTURE_TYPE_PCI_EXT_PROPERTIES;
        if (ze().zeDevicePciGetPropertiesExt(device, &pci) == ZE_RESULT_SUCCESS) {
          dev->info.pci_bus_id =
              sdk::format("%04x:%02x:%02x.%x", pci.address.domain, pci.address.bus,
                          pci.address.device, pci.address.function);
        }
      }
      devices_.push_back(std::move(dev));
    }
  }

  std::string reason_;
  std::vector<std::unique_ptr<ZeDevice>> devices_;
};

}  // namespace

std::unique_ptr<Runtime> make_level_zero_runtime() {
  return std::make_unique<LevelZeroRuntime>();
}

}  // namespace tsr::xpu
