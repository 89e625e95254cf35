// Rules from an NvmlSnapshot to diagnostics findings. See nvml_rules.h.
#include "nvml_rules.h"

#include <utility>

#include "tessera/plugin.hpp"

namespace tsr::cuda {
namespace {

using sdk::format;

constexpr const char* kNvml = "nvml";

class Items {
 public:
  void add(std::string key, std::string value, std::string unit, tsr_diag_status status,
           std::string source, std::string hint = {}) {
    items_.push_back(DiagItem{std::move(key), std::move(value), std::move(unit), status,
                              std::move(source), std::move(hint)});
  }
  std::vector<DiagItem> take() { return std::move(items_); }

 private:
  std::vector<DiagItem> items_;
};

std::string cuda_version_string(int version) {
  return format("%d.%d", version / 1000, (version % 1000) / 10);
}

uint64_t mib(uint64_t bytes) {
  return bytes / (1024ull * 1024ull);
}

void add_clock_items(Items& items, const NvmlGpuReading& gpu, bool idle) {
  const int i = gpu.index;
  const unsigned long long reasons = gpu.clock_event_reasons.value_or(0);
  if (gpu.sm_clock_mhz) {
    tsr_diag_status status = TSR_DIAG_STATUS_OK;
    std::string hint;
    const uint32_t current = *gpu.sm_clock_mhz;
    if (gpu.sm_clock_max_mhz && current * 2 < *gpu.sm_clock_max_mhz) {
      const uint32_t max = *gpu.sm_clock_max_mhz;
      status = TSR_DIAG_STATUS_WARN;
      if (idle) {
        hint = format(
            "the SM clock is at %u of %u MHz because the GPU is idle; it ramps up only when work "
            "arrives, which slows the first steps after a pause. For latency-sensitive serving "
            "run `sudo nvidia-smi -lgc %u,%u` (needs root; locks the graphics clock to the range "
            "<min>,<max> MHz until `sudo nvidia-smi -rgc` or a reboot; power and thermal limits "
            "still apply)",
            current, max, max, max);
      } else {
        hint = format(
            "the SM clock is at %u of %u MHz while the GPU is not idle: see "
            "gpu.%d.throttle_reasons "
            "and `nvidia-smi -q -d PERFORMANCE,CLOCK`",
            current, max, i);
      }
    }
    items.add(format("gpu.%d.freq.sm.current", i), std::to_string(current), "MHz", status, kNvml,
              hint);
  }
  if (gpu.sm_clock_max_mhz) {
    items.add(format("gpu.%d.freq.sm.max", i), std::to_string(*gpu.sm_clock_max_mhz), "MHz",
              TSR_DIAG_STATUS_OK, kNvml);
  }
  if (gpu.mem_clock_mhz) {
    tsr_diag_status status = TSR_DIAG_STATUS_OK;
    std::string hint;
    const uint32_t current = *gpu.mem_clock_mhz;
    if (gpu.mem_clock_max_mhz && !idle && current * 10 < *gpu.mem_clock_max_mhz * 9) {
      status = TSR_DIAG_STATUS_WARN;
      hint = format(
          "the memory clock is at %u of %u MHz while the GPU is busy; decode speed follows memory "
          "bandwidth: see gpu.%d.throttle_reasons and `nvidia-smi -q -d PERFORMANCE`",
          current, *gpu.mem_clock_max_mhz, i);
    }
    items.add(format("gpu.%d.freq.mem.current", i), std::to_string(current), "MHz", status, kNvml,
              hint);
  }
  if (gpu.mem_clock_max_mhz) {
    items.add(format("gpu.%d.freq.mem.max", i), std::to_string(*gpu.mem_clock_max_mhz), "MHz",
              TSR_DIAG_STATUS_OK, kNvml);
  }
  if (gpu.app_sm_clock_mhz) {
    const uint32_t app = *gpu.app_sm_clock_mhz;
    const bool lowered = gpu.default_app_sm_clock_mhz && app < *gpu.default_app_sm_clock_mhz;
    items.add(format("gpu.%d.freq.sm.applications", i), std::to_string(app), "MHz",
              lowered ? TSR_DIAG_STATUS_WARN : TSR_DIAG_STATUS_OK, kNvml,
              lowered ? format("applications clocks were set below the default of %u MHz: "
                               "`sudo nvidia-smi -rac` (needs root) resets them to the default",
                               *gpu.default_app_sm_clock_mhz)
                      : std::string());
  }
  if (gpu.clock_event_reasons) {
    tsr_diag_status status = TSR_DIAG_STATUS_OK;
    std::string hint;
    auto note = [&](tsr_diag_status s, const char* text) {
      if (s > status) status = s;
      if (!hint.empty()) hint += "; ";
      hint += text;
    };
    if (reasons & kReasonHwThermalSlowdown) {
      note(TSR_DIAG_STATUS_FAIL,
           "hardware thermal slowdown: the GPU is overheating, check fans, airflow and "
           "`nvidia-smi -q -d TEMPERATURE`");
    }
    if (reasons & kReasonHwPowerBrakeSlowdown) {
      note(TSR_DIAG_STATUS_FAIL,
           "power brake: the power supply or an external signal asked the GPU to slow "
           "down, check the PSU and the GPU's power cables");
    }
    if ((reasons & kReasonHwSlowdown) &&
        !(reasons & (kReasonHwThermalSlowdown | kReasonHwPowerBrakeSlowdown))) {
      note(TSR_DIAG_STATUS_FAIL,
           "hardware slowdown (thermal or power): check cooling, the PSU and power cables");
    }
    if (reasons & kReasonSwThermalSlowdown) {
      note(TSR_DIAG_STATUS_WARN,
           "the driver lowers clocks to stay under its temperature target: improve "
           "cooling or airflow");
    }
    if (reasons & kReasonSwPowerCap) {
      note(TSR_DIAG_STATUS_WARN,
           "the board is at its power limit (`nvidia-smi -q -d POWER`); if cooling "
           "allows, raise it up to the maximum with `sudo nvidia-smi -pl <watts>`");
    }
    if (reasons & kReasonApplicationsClocksSetting) {
      note(TSR_DIAG_STATUS_WARN,
           "clocks are held by the applications clocks setting: `sudo nvidia-smi -rac` "
           "resets it");
    }
    items.add(format("gpu.%d.throttle_reasons", i), decode_clock_event_reasons(reasons), "", status,
              kNvml, hint);
  }
}

void add_bar_items(Items& items, const NvmlGpuReading& gpu) {
  if (!gpu.bar1_total_bytes) return;
  const int i = gpu.index;
  const uint64_t bar1 = *gpu.bar1_total_bytes;
  items.add(format("pcie.%d.rebar.bar_size", i), std::to_string(mib(bar1)), "MiB",
            TSR_DIAG_STATUS_OK, kNvml);
  if (!gpu.memory_total_bytes) return;
  const uint64_t vram = *gpu.memory_total_bytes;
  items.add(format("pcie.%d.rebar.vram", i), std::to_string(mib(vram)), "MiB", TSR_DIAG_STATUS_OK,
            kNvml);
  if (bar1 >= vram) {
    items.add(format("pcie.%d.rebar.enabled", i), "yes", "", TSR_DIAG_STATUS_OK, kNvml);
  } else {
    items.add(
        format("pcie.%d.rebar.enabled", i), "no", "", TSR_DIAG_STATUS_WARN, kNvml,
        format(
            "BAR1 (%llu MiB) is smaller than the GPU memory (%llu MiB): enable Resizable BAR and "
            "Above 4G Decoding in the system firmware (BIOS/UEFI). It matters for peer-to-peer "
            "and GPUDirect transfers and host-mapped memory; plain kernels are unaffected",
            static_cast<unsigned long long>(mib(bar1)),
            static_cast<unsigned long long>(mib(vram))));
  }
  if (bar1 > (4ull << 30)) {
    items.add(format("pcie.%d.above4g", i), "yes", "", TSR_DIAG_STATUS_OK, kNvml,
              "implied: a BAR larger than 4 GiB can only be mapped above 4 GiB");
  }
}

void add_link_items(Items& items, const NvmlGpuReading& gpu, bool idle) {
  const int i = gpu.index;
  if (gpu.pcie_gen_current) {
    const uint32_t current = *gpu.pcie_gen_current;
    tsr_diag_status status = TSR_DIAG_STATUS_OK;
    std::string hint;
    if (gpu.pcie_gen_max && current < *gpu.pcie_gen_max) {
      if (idle) {
        hint =
            "the GPU is idle and lowers its link speed to save power; run diagnose again under "
            "load";
      } else {
        status = TSR_DIAG_STATUS_WARN;
        hint = format(
            "the link runs at PCIe gen%u while gen%u is possible: reseat the card, check the slot "
            "and any "
            "riser or extension cable, the BIOS PCIe speed setting, and ASPM power saving (try "
            "pcie_aspm=off on the kernel command line to test)",
            current, *gpu.pcie_gen_max);
      }
    }
    items.add(format("pcie.%d.link.gen.current", i), std::to_string(current), "", status, kNvml,
              hint);
  }
  if (gpu.pcie_gen_max) {
    const uint32_t max = *gpu.pcie_gen_max;
    const bool slot_limited = gpu.pcie_gen_gpu_max && max < *gpu.pcie_gen_gpu_max;
    items.add(
        format("pcie.%d.link.gen.max", i), std::to_string(max), "",
        slot_limited ? TSR_DIAG_STATUS_WARN : TSR_DIAG_STATUS_OK, kNvml,
        slot_limited
            ? format("the GPU supports PCIe gen%u but this slot or platform only gen%u: use a "
                     "slot attached to the CPU that supports gen%u, check risers and the BIOS "
                     "PCIe speed setting",
                     *gpu.pcie_gen_gpu_max, max, *gpu.pcie_gen_gpu_max)
            : std::string());
  }
  if (gpu.pcie_width_current) {
    const uint32_t current = *gpu.pcie_width_current;
    const bool narrow = gpu.pcie_width_max && current < *gpu.pcie_width_max;
    items.add(
        format("pcie.%d.link.width.current", i), std::to_string(current), "lanes",
        narrow ? TSR_DIAG_STATUS_WARN : TSR_DIAG_STATUS_OK, kNvml,
        narrow ? format("the link trained to x%u of x%u: check that the slot is wired x%u (second "
                        "slots are often x8 or x4), that no riser or extension cable limits it and "
                        "that the card is fully seated; ASPM power saving can also narrow it",
                        current, *gpu.pcie_width_max, *gpu.pcie_width_max)
               : std::string());
  }
  if (gpu.pcie_width_max) {
    items.add(format("pcie.%d.link.width.max", i), std::to_string(*gpu.pcie_width_max), "lanes",
              TSR_DIAG_STATUS_OK, kNvml);
  }
}

void add_mode_items(Items& items, const NvmlGpuReading& gpu) {
  const int i = gpu.index;
  if (gpu.persistence_mode) {
    const bool on = *gpu.persistence_mode;
    items.add(format("gpu.%d.persistence_mode", i), on ? "enabled" : "disabled", "",
              on ? TSR_DIAG_STATUS_OK : TSR_DIAG_STATUS_WARN, kNvml,
              on ? std::string()
                 : "`sudo nvidia-smi -pm 1` (needs root) keeps the driver initialized while no "
                   "process uses "
                   "the GPU, so each start skips driver setup and clock settings survive; the "
                   "nvidia-persistenced service does the same at boot");
  }
  if (gpu.ecc_current) {
    const bool on = *gpu.ecc_current;
    const bool change_pending = gpu.ecc_pending && *gpu.ecc_pending != on;
    items.add(
        format("gpu.%d.ecc", i), on ? "enabled" : "disabled", "",
        change_pending ? TSR_DIAG_STATUS_WARN : TSR_DIAG_STATUS_OK, kNvml,
        change_pending
            ? format("ECC will be %s after the next reboot (or `sudo nvidia-smi -r`, a GPU reset)",
                     *gpu.ecc_pending ? "enabled" : "disabled")
            : std::string());
  }
}

}  // namespace

std::string decode_clock_event_reasons(unsigned long long reasons) {
  static constexpr std::pair<unsigned long long, const char*> kNames[] = {
      {kReasonGpuIdle, "gpu_idle"},
      {kReasonApplicationsClocksSetting, "applications_clocks_setting"},
      {kReasonSwPowerCap, "sw_power_cap"},
      {kReasonHwSlowdown, "hw_slowdown"},
      {kReasonSyncBoost, "sync_boost"},
      {kReasonSwThermalSlowdown, "sw_thermal_slowdown"},
      {kReasonHwThermalSlowdown, "hw_thermal_slowdown"},
      {kReasonHwPowerBrakeSlowdown, "hw_power_brake_slowdown"},
      {kReasonDisplayClockSetting, "display_clock_setting"},
  };
  if (reasons == 0) return "none";
  std::string out;
  unsigned long long known = 0;
  for (const auto& [bit, name] : kNames) {
    known |= bit;
    if (reasons & bit) {
      if (!out.empty()) out += ',';
      out += name;
    }
  }
  if (const unsigned long long rest = reasons & ~known; rest != 0) {
    if (!out.empty()) out += ',';
    out += format("0x%llx", rest);
  }
  return out;
}

std::vector<DiagItem> evaluate_nvml_snapshot(const NvmlSnapshot& snapshot) {
  Items items;
  if (!snapshot.library_found) {
    items.add("driver.version", "NVIDIA driver not found (libnvidia-ml.so.1)", "",
              TSR_DIAG_STATUS_UNKNOWN, kNvml,
              "no NVIDIA driver is installed or libnvidia-ml.so.1 is not on the library path; "
              "install the "
              "NVIDIA driver if this machine has an NVIDIA GPU");
    return items.take();
  }
  if (!snapshot.init_error.empty()) {
    items.add(
        "driver.version", "NVML failed to initialize: " + snapshot.init_error, "",
        TSR_DIAG_STATUS_FAIL, kNvml,
        "the NVIDIA kernel module is not loaded or does not match the user-space driver: check "
        "`nvidia-smi` and `dmesg | grep -i nvrm`; after a driver update, reboot");
    return items.take();
  }
  items.add("driver.version", snapshot.driver_version.value_or("unknown"), "",
            snapshot.driver_version ? TSR_DIAG_STATUS_OK : TSR_DIAG_STATUS_UNKNOWN, kNvml,
            snapshot.driver_version ? std::string() : "NVML did not report the driver version");
  if (snapshot.cuda_driver_version) {
    const int driver = *snapshot.cuda_driver_version;
    const bool too_old = snapshot.cuda_runtime_version && driver < *snapshot.cuda_runtime_version;
    items.add(
        "driver.cuda_version", cuda_version_string(driver), "",
        too_old ? TSR_DIAG_STATUS_FAIL : TSR_DIAG_STATUS_OK, kNvml,
        too_old
            ? format(
                  "the driver supports CUDA up to %s but this plugin's CUDA runtime is %s: update "
                  "the NVIDIA driver (data-center GPUs can use the cuda-compat package instead)",
                  cuda_version_string(driver).c_str(),
                  cuda_version_string(*snapshot.cuda_runtime_version).c_str())
            : std::string());
  }
  if (snapshot.cuda_runtime_version) {
    items.add("runtime.version", cuda_version_string(*snapshot.cuda_runtime_version), "",
              TSR_DIAG_STATUS_OK, "cuda-runtime");
  }
  if (snapshot.gpus.empty()) {
    items.add(
        "device.count", "0", "", TSR_DIAG_STATUS_WARN, kNvml,
        "the driver is installed but sees no GPU: check `nvidia-smi`, `lspci | grep -i nvidia` and "
        "`dmesg | grep -i nvrm`");
  }
  for (const NvmlGpuReading& gpu : snapshot.gpus) {
    const bool idle = (gpu.clock_event_reasons.value_or(0) & kReasonGpuIdle) != 0;
    items.add(format("device.%d.name", gpu.index), gpu.name.empty() ? "unknown" : gpu.name, "",
              TSR_DIAG_STATUS_OK, kNvml);
    if (!gpu.pci_bus_id.empty()) {
      items.add(format("device.%d.pci_bus_id", gpu.index), gpu.pci_bus_id, "", TSR_DIAG_STATUS_OK,
                kNvml);
    }
    add_clock_items(items, gpu, idle);
    add_bar_items(items, gpu);
    add_link_items(items, gpu, idle);
    add_mode_items(items, gpu);
  }
  return items.take();
}

void push_items(const std::vector<DiagItem>& items, const tsr_diag_sink* sink) {
  for (const DiagItem& item : items) {
    tsr_diag_item out{};
    out.struct_size = sizeof out;
    out.key = item.key.c_str();
    out.value = item.value.c_str();
    out.unit = item.unit.empty() ? nullptr : item.unit.c_str();
    out.status = item.status;
    out.source = item.source.empty() ? nullptr : item.source.c_str();
    out.hint = item.hint.empty() ? nullptr : item.hint.c_str();
    sink->push(sink->ctx, &out);
  }
}

}  // namespace tsr::cuda
