// Raw NVIDIA driver readings for `diagnose`, and the reader that takes them through NVML.
//
// A snapshot is plain data: every reading is optional (absent = NVML did not provide it, e.g.
// NOT_SUPPORTED on this board). The rules in nvml_rules.h turn a snapshot into findings, so
// they are tested with fixture snapshots on machines without a GPU. The reader loads
// libnvidia-ml.so.1 with dlopen: the plugin has no link-time dependency on the driver.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tsr::cuda {

struct NvmlGpuReading {
  int index = 0;
  std::string name;
  std::string pci_bus_id;
  std::optional<uint32_t> sm_clock_mhz;
  std::optional<uint32_t> sm_clock_max_mhz;
  std::optional<uint32_t> mem_clock_mhz;
  std::optional<uint32_t> mem_clock_max_mhz;
  std::optional<uint32_t> app_sm_clock_mhz;
  std::optional<uint32_t> default_app_sm_clock_mhz;
  std::optional<uint64_t> clock_event_reasons;  // NVML clocks event (throttle) bitmask
  std::optional<uint64_t> bar1_total_bytes;
  std::optional<uint64_t> memory_total_bytes;
  std::optional<uint32_t> pcie_gen_current;
  std::optional<uint32_t> pcie_gen_max;      // device and system together (the slot's limit)
  std::optional<uint32_t> pcie_gen_gpu_max;  // the GPU alone
  std::optional<uint32_t> pcie_width_current;
  std::optional<uint32_t> pcie_width_max;
  std::optional<bool> persistence_mode;
  std::optional<bool> ecc_current;
  std::optional<bool> ecc_pending;
};

struct NvmlSnapshot {
  // False when libnvidia-ml.so.1 could not be loaded: no NVIDIA driver on this machine.
  bool library_found = false;
  // Non-empty when the library loaded but nvmlInit failed (driver/library mismatch, …).
  std::string init_error;
  std::optional<std::string> driver_version;
  std::optional<int> cuda_driver_version;   // e.g. 13000 for 13.0
  std::optional<int> cuda_runtime_version;  // the runtime this plugin was built with
  std::vector<NvmlGpuReading> gpus;
};

// Loads NVML, reads every GPU, unloads it. Never throws for a missing driver: that is
// library_found == false. `library` is the soname to load (tests pass a missing name).
NvmlSnapshot read_nvml_snapshot(const char* library = "libnvidia-ml.so.1");

}  // namespace tsr::cuda
