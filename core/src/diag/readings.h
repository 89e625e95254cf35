// Raw readings of the host, one struct per check family. The read_* functions (I/O, in the
// family's *_checks.cpp) fill them from a SysfsReader; the check_* functions (pure) turn
// them into DiagItems. Tests build readings by hand to exercise each rule without files.
// Every value is a Field so a rule can tell "missing" from "needs root" from "read fine".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "diag/diag_item.h"
#include "diag/sysfs_reader.h"

namespace tessera::diag {

// ---- host ------------------------------------------------------------------------------

struct HostReadings {
  Field os_release;      // /etc/os-release (fallback /usr/lib/os-release), whole file
  Field kernel_release;  // /proc/sys/kernel/osrelease, e.g. "6.8.0-45-generic"
  Field machine;         // architecture from /proc/sys/kernel/arch when present
};

HostReadings read_host(const SysfsReader& reader);
std::vector<DiagItem> check_host(const HostReadings& r);

// ---- cpu -------------------------------------------------------------------------------

struct CpuPolicyReadings {
  std::string name;  // "policy0"
  Field affected_cpus;
  Field governor;                   // scaling_governor
  Field available_governors;        // scaling_available_governors
  Field driver;                     // scaling_driver
  Field cur_khz, min_khz, max_khz;  // scaling_{cur,min,max}_freq
  Field hw_max_khz;                 // cpuinfo_max_freq
  Field epp;                        // energy_performance_preference (HWP / amd-pstate-epp)
  Field boost;                      // per-policy boost (newer kernels)
};

struct CpuReadings {
  Field cpuinfo;                                      // /proc/cpuinfo, whole file
  Field online;                                       // /sys/devices/system/cpu/online
  ReadStatus policies_status = ReadStatus::kMissing;  // listing of …/cpufreq
  std::vector<CpuPolicyReadings> policies;            // sorted by policy number
  Field intel_no_turbo;       // /sys/devices/system/cpu/intel_pstate/no_turbo
  Field intel_pstate_status;  // …/intel_pstate/status (active, passive, off)
  Field global_boost;         // /sys/devices/system/cpu/cpufreq/boost
  Field amd_pstate_status;    // /sys/devices/system/cpu/amd_pstate/status
};

CpuReadings read_cpu(const SysfsReader& reader);
std::vector<DiagItem> check_cpu(const CpuReadings& r);

// ---- memory ----------------------------------------------------------------------------

struct NumaNodeReadings {
  std::string name;  // "node0"
  Field cpulist;
  Field meminfo;  // …/nodeN/meminfo, whole file
};

struct MemoryReadings {
  Field meminfo;      // /proc/meminfo, whole file
  Field thp_enabled;  // "always [madvise] never"
  Field thp_defrag;
  ReadStatus nodes_status = ReadStatus::kMissing;
  std::vector<NumaNodeReadings> nodes;
};

MemoryReadings read_memory(const SysfsReader& reader);
std::vector<DiagItem> check_memory(const MemoryReadings& r);

// ---- pci -------------------------------------------------------------------------------

// Device memory learned elsewhere (a plugin's device properties), by PCI address.
struct VramHint {
  std::string pci_address;  // any spelling parse_pci_address accepts
  uint64_t bytes = 0;
  std::string source;  // "plugin cuda"
};

struct PciDeviceReadings {
  std::string address;         // "0000:03:00.0"
  Field class_code;            // "0x030000"
  Field vendor;                // "0x1002"
  Field device;                // "0x744c"
  Field driver;                // basename of the driver symlink; kMissing: no driver bound
  Field cur_speed, max_speed;  // "16.0 GT/s PCIe"
  Field cur_width, max_width;  // "16"
  Field resource;              // the `resource` table: "start end flags" per line
  std::vector<std::pair<int, Field>> resize;  // resourceN_resize that exist, by BAR index
  Field vram_total;                           // amdgpu mem_info_vram_total (bytes)
  Field numa_node;
  std::optional<VramHint> vram_hint;  // matched from the plugins' devices
  // The link into the card: the device right below the root port when the GPU sits behind
  // a switch (Arc and recent Radeon cards have one on the board, and their endpoint reports
  // a virtual link). Empty address when the device is directly below the root port.
  std::string slot_address;
  Field slot_cur_speed, slot_max_speed, slot_cur_width, slot_max_width;
};

struct PciReadings {
  ReadStatus devices_status = ReadStatus::kMissing;
  std::string devices_error;
  std::vector<PciDeviceReadings> devices;  // display (0x03) and accelerator (0x12) only
  Field aspm_policy;                       // /sys/module/pcie_aspm/parameters/policy
  Field kernel_release;                    // for the Intel Arc driver/kernel rule
};

PciReadings read_pci(const SysfsReader& reader, const std::vector<VramHint>& hints);
std::vector<DiagItem> check_pci(const PciReadings& r);

}  // namespace tessera::diag
