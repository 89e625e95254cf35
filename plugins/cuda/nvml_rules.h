// The CUDA plugin's diagnostic rules: a pure function from an NvmlSnapshot to findings.
//
// No I/O and no NVML here, so every rule is tested with fixture snapshots. Each finding
// whose status is not OK carries a concrete hint (a command and what it does, or what to
// check in hardware or firmware). Keys follow plugin.h's standard diagnostics keys.
#pragma once

#include <string>
#include <vector>

#include "nvml_snapshot.h"
#include "tessera/plugin.h"

namespace tsr::cuda {

struct DiagItem {
  std::string key;
  std::string value;
  std::string unit;
  tsr_diag_status status = TSR_DIAG_STATUS_OK;
  std::string source;
  std::string hint;
};

// NVML clocks event (throttle) reason bits, as documented for nvmlClocksEventReasons.
inline constexpr unsigned long long kReasonGpuIdle = 0x1ull;
inline constexpr unsigned long long kReasonApplicationsClocksSetting = 0x2ull;
inline constexpr unsigned long long kReasonSwPowerCap = 0x4ull;
inline constexpr unsigned long long kReasonHwSlowdown = 0x8ull;
inline constexpr unsigned long long kReasonSyncBoost = 0x10ull;
inline constexpr unsigned long long kReasonSwThermalSlowdown = 0x20ull;
inline constexpr unsigned long long kReasonHwThermalSlowdown = 0x40ull;
inline constexpr unsigned long long kReasonHwPowerBrakeSlowdown = 0x80ull;
inline constexpr unsigned long long kReasonDisplayClockSetting = 0x100ull;

// "gpu_idle,sw_power_cap" for a bitmask; "none" for 0; unknown bits as "0x…".
std::string decode_clock_event_reasons(unsigned long long reasons);

std::vector<DiagItem> evaluate_nvml_snapshot(const NvmlSnapshot& snapshot);

// Pushes items to a diagnostics sink (strings only live during the push).
void push_items(const std::vector<DiagItem>& items, const tsr_diag_sink* sink);

}  // namespace tsr::cuda
