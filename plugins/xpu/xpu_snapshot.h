// Raw Intel GPU readings for `diagnose`, and the sysfs reader that fills them.
//
// A snapshot is plain data. Every reading records whether it was read, absent, or refused
// for lack of privileges (NEEDS_ROOT, which the rules never turn into a "disabled"). It is
// filled either from Level Zero Sysman (xpu_sysman.cpp, in the plugin) or from the i915/xe
// sysfs files read here; the rules (xpu_rules.h) are pure and tested with fixture trees.
//
// The sysfs reader goes through SysfsSource, whose default implementation prefixes every
// path with a root directory (TESSERA_DIAG_ROOT / host option diag.root), so tests point it
// at tests/data/diag_gpu/sysfs/<case>/ or inject read failures.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tsr::xpu {

enum class ReadState { kMissing, kOk, kNeedsRoot, kError };

template <class T>
struct Reading {
  ReadState state = ReadState::kMissing;
  T value{};
  std::string detail;  // the path or call, and the error when not kOk
  bool ok() const { return state == ReadState::kOk; }
};

struct XpuCardReading {
  int index = 0;
  std::string card;        // "card0" (sysfs) or "ze0" (Sysman)
  std::string source;      // "sysfs" or "level-zero-sysman"
  std::string pci_bus_id;  // "0000:03:00.0"
  std::string driver;      // "i915", "xe"; empty when unknown
  uint32_t pci_device_id = 0;
  Reading<double> freq_current;  // MHz, actual
  Reading<double> freq_requested;
  Reading<double> freq_min;  // the range currently allowed
  Reading<double> freq_max;
  Reading<double> freq_hw_min;  // what the hardware can do (RPn / RP0)
  Reading<double> freq_hw_max;
  Reading<uint64_t> vram_bar_bytes;  // the BAR that maps device memory
  Reading<uint64_t> vram_bytes;
  Reading<bool> rebar_supported;
  Reading<bool> rebar_enabled;
  Reading<int> pcie_gen_current;
  Reading<int> pcie_gen_max;
  Reading<int> pcie_width_current;
  Reading<int> pcie_width_max;
};

// An Intel display-class PCI device with no kernel driver bound (so no DRM card).
struct UnboundGpu {
  std::string pci_bus_id;
  uint32_t pci_device_id = 0;
};

struct XpuSnapshot {
  bool loader_found = false;
  std::string loader_error;
  bool sysman_available = false;
  std::string sysman_status;  // why Sysman was not used
  std::optional<std::string> ze_driver_version;
  Reading<std::string> kernel_release;
  std::vector<XpuCardReading> cards;
  std::vector<UnboundGpu> unbound;
};

struct FileRead {
  ReadState state = ReadState::kMissing;
  std::string content;  // trimmed of trailing whitespace
  std::string error;
};

// Where sysfs/procfs reads come from. Paths are absolute ("/sys/class/drm").
class SysfsSource {
 public:
  virtual ~SysfsSource() = default;
  virtual FileRead read(const std::string& path) const = 0;
  virtual std::vector<std::string> list(const std::string& dir) const = 0;  // entry names
  virtual bool exists(const std::string& path) const = 0;
};

// The real filesystem under `root` ("" or "/" for the machine itself).
std::unique_ptr<SysfsSource> make_filesystem_source(std::string root);

// Reads the kernel release, the Intel DRM cards (i915 and xe) and unbound Intel GPUs.
void read_sysfs(const SysfsSource& source, XpuSnapshot& snapshot);

// Family of an Intel GPU PCI device id, for driver and kernel advice.
enum class GpuFamily { kOther, kDg1, kAlchemist, kBattlemage, kPonteVecchio };
GpuFamily gpu_family(uint32_t pci_device_id);
bool is_discrete(GpuFamily family);

}  // namespace tsr::xpu
