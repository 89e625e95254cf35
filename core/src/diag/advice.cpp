// Wording of every recommendation; see advice.h. Commands are given as the user would type
// them, with sudo, because diagnose itself never changes the system.
#include "diag/advice.h"

#include <fmt/format.h>

namespace tessera::diag::advice {

std::string needs_root(std::string_view path) {
  return fmt::format("{} is readable only with privileges; run `sudo tessera diagnose` to see it",
                     path);
}

std::string governor(std::string_view current) {
  return fmt::format(
      "governor '{}' lowers clocks between bursts and adds latency; for serving use "
      "`sudo cpupower frequency-set -g performance` or `echo performance | sudo tee "
      "/sys/devices/system/cpu/cpufreq/policy*/scaling_governor`",
      current);
}

std::string epp() {
  return "set the energy-performance preference to performance: `echo performance | sudo tee "
         "/sys/devices/system/cpu/cpufreq/policy*/energy_performance_preference` (with "
         "intel_pstate, the performance governor sets it for you)";
}

std::string intel_turbo_off() {
  return "turbo is disabled: `echo 0 | sudo tee /sys/devices/system/cpu/intel_pstate/no_turbo`; "
         "if it stays off, enable Turbo Boost in the firmware setup";
}

std::string boost_off() {
  return "frequency boost is disabled: `echo 1 | sudo tee "
         "/sys/devices/system/cpu/cpufreq/boost`; if it stays off, enable Core Performance "
         "Boost / Turbo in the firmware setup";
}

std::string freq_capped(uint64_t hw_max_mhz) {
  return fmt::format(
      "the maximum frequency is capped below the hardware maximum: `sudo cpupower "
      "frequency-set -u {}MHz` (a power-profile daemon such as tuned or "
      "power-profiles-daemon may set it back)",
      hw_max_mhz);
}

std::string thp(std::string_view current) {
  return fmt::format(
      "transparent huge pages are '{}': large weight and KV host buffers then use 4 KiB pages "
      "(more TLB misses); `echo madvise | sudo tee "
      "/sys/kernel/mm/transparent_hugepage/enabled`",
      current);
}

std::string memory_low() {
  return "less than 10% of memory is available: the model, the KV swap space and the page "
         "cache of weight files compete; stop other workloads or lower --swap-space";
}

std::string isa_without_avx2() {
  return "this x86 CPU lacks AVX2: the CPU plugin falls back to slow generic kernels; if this "
         "is a VM, pass the host CPU model through (e.g. `-cpu host`)";
}

std::string cpufreq_absent() {
  return "no cpufreq interface (typical in VMs and containers, or with the firmware in "
         "control): frequency policy is set by the hypervisor or the firmware setup";
}

std::string aspm_policy(std::string_view current) {
  return fmt::format(
      "PCIe ASPM policy '{}' lets links sleep and retrain, adding latency to transfers: `echo "
      "performance | sudo tee /sys/module/pcie_aspm/parameters/policy` or boot with "
      "pcie_aspm.policy=performance",
      current);
}

std::string link_below_max(bool speed, bool width) {
  const char* what = speed && width ? "speed and width are" : (speed ? "speed is" : "width is");
  return fmt::format(
      "link {} below the device's maximum; GPUs downtrain at idle to save power, so check under "
      "load (e.g. during `tessera bench`); if it stays low: seat the card in a full x16 slot "
      "wired to the CPU, remove or replace a riser cable, set the slot to Auto/highest Gen in "
      "the firmware, and disable ASPM power saving",
      what);
}

std::string rebar(uint64_t bar_mib, uint64_t supported_max_mib, bool vram_known) {
  std::string s = fmt::format(
      "the largest BAR ({} MiB) {}, so the CPU sees device memory through a small window: "
      "enable Resizable BAR (also called Smart Access Memory / Re-Size BAR Support) and Above "
      "4G Decoding in the firmware setup, and disable CSM (boot in UEFI mode)",
      bar_mib,
      vram_known ? "does not cover the device memory" : "is smaller than the device can map");
  if (supported_max_mib > 0) {
    s += fmt::format("; the device itself supports a BAR of up to {} MiB", supported_max_mib);
  }
  return s;
}

std::string above4g() {
  return "the BAR is mapped below 4 GiB, so Above 4G Decoding (64-bit MMIO, 'Above 4GB MMIO "
         "BIOS assignment') is probably off: enable it in the firmware setup; Resizable BAR "
         "needs it";
}

std::string vram_unknown(std::string_view driver) {
  return fmt::format(
      "driver '{}' does not publish the device memory size in sysfs; the backend plugin "
      "reports it (run without --no-plugins) and then this check compares it to the BAR",
      driver.empty() ? "none" : driver);
}

std::string driver_missing(uint32_t vendor) {
  switch (vendor) {
    case 0x10de:
      return "no kernel driver is bound: install the NVIDIA driver (nvidia-open or the "
             "proprietary one) and check `dmesg | grep -i nvidia` for load errors";
    case 0x1002:
      return "no kernel driver is bound: load amdgpu (`sudo modprobe amdgpu`) and check "
             "`dmesg | grep -i amdgpu` for missing firmware";
    case 0x8086:
      return "no kernel driver is bound: Intel GPUs need i915 or xe; Arc A-series (DG2) needs "
             "kernel >= 6.2 for i915 (prefer 6.5+) or xe on 6.8+; check `dmesg | grep -iE "
             "'i915|xe'` for force_probe or firmware messages";
    default:
      return "no kernel driver is bound to this device: install and load its driver";
  }
}

std::string driver_vfio() {
  return "bound to vfio-pci (reserved for passthrough to a VM): this host cannot use it";
}

std::string arc_driver(std::string_view family) {
  if (family == "Battlemage") {
    return "Intel Arc B-series (Battlemage) is supported by the xe driver on kernel 6.12 or "
           "newer; i915 does not drive it: upgrade the kernel (e.g. a HWE/backports kernel)";
  }
  return "Intel Arc A-series (DG2) needs i915 on kernel >= 6.2 (prefer 6.5 or newer, for "
         "stability and performance fixes) or the xe driver on kernel 6.8 or newer; older "
         "kernels need out-of-tree drivers: upgrade the kernel (e.g. a HWE/backports kernel)";
}

}  // namespace tessera::diag::advice
