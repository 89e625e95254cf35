// The diagnostics data model shared by the host checks, the report formatter and the CLI.
// DiagItem mirrors tsr_diag_item of the plugin ABI (sdk/include/tessera/plugin.h) with owned
// strings, and DiagStatus reuses the tsr_diag_status values so plugin items convert 1:1.
// Items are plain values: checks produce them, nothing mutates them afterwards.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tessera/plugin.h"

namespace tessera::diag {

enum class DiagStatus : int {
  kOk = TSR_DIAG_STATUS_OK,
  kWarn = TSR_DIAG_STATUS_WARN,
  kFail = TSR_DIAG_STATUS_FAIL,
  kUnknown = TSR_DIAG_STATUS_UNKNOWN,
  kNeedsRoot = TSR_DIAG_STATUS_NEEDS_ROOT,
};

// "ok", "warn", "fail", "unknown", "needs_root": the spelling used in --json output.
std::string_view status_name(DiagStatus status);
// A plugin may send any integer; values outside the enum become kUnknown.
DiagStatus status_from_c(int value);
// Severity order for summaries: fail > warn > needs_root > unknown > ok.
int severity(DiagStatus status);
DiagStatus worst(DiagStatus a, DiagStatus b);

struct DiagItem {
  std::string key;    // dotted, e.g. "cpu.governor", "pci.0.link.gen.current"
  std::string value;  // as shown; numbers are plain decimal in `unit`
  std::string unit;   // "MHz", "MiB", "GT/s", "lanes" or empty
  DiagStatus status = DiagStatus::kOk;
  std::string source;  // where the value came from: "sysfs", "procfs", a plugin's source …
  std::string hint;    // what to do when status is not ok; empty otherwise
  // Per-policy / per-BAR detail: always in --json, in the table only with --verbose.
  bool detail = false;
};

// A titled group of items: "host", "cpu", "memory", "pci", "plugin cuda", "plugins".
struct DiagSection {
  std::string name;
  std::vector<DiagItem> items;
};

// True when any item of any section has status kFail (the exit-code rule).
bool has_failure(const std::vector<DiagSection>& sections);

}  // namespace tessera::diag
