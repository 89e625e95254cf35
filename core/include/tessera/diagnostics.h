// Public: `tessera diagnose` as a library call. The host checks (kernel, CPU governor, EPP
// and turbo, transparent huge pages, NUMA, memory, each GPU's driver, PCIe link, Resizable
// BAR, Above 4G Decoding), the plugin loader's view and every plugin's own diagnostics
// (tsr_plugin_api::diagnose), as sections of items, and the two report formats.
//
// DiagItem mirrors tsr_diag_item of the plugin ABI (tessera/plugin.h) with owned strings, and
// DiagStatus reuses the tsr_diag_status values so plugin items convert 1:1. Items are plain
// values: checks produce them, nothing mutates them afterwards.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tessera/device_spec.h"
#include "tessera/plugin.h"
#include "tessera/plugins.h"

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

struct DiagnoseOptions {
  // Read sysfs/procfs under this directory instead of / (fixture trees for tests); "" takes
  // TESSERA_DIAG_ROOT, else /.
  std::string root;
  // false: host checks only; no plugin is loaded.
  bool plugins = true;
  // Where plugins are looked for. Diagnostics never open a device to ask for its memory
  // (query_memory is ignored).
  runtime::LoaderOptions loader;
  // A named plugin (--device cuda): only its diagnostics, and a failed item when it is not
  // loaded. auto: every plugin's.
  DeviceSpec device;
};

// The sections "host", "cpu", "memory", "pci", then (with plugins) "plugins" (what loaded,
// what was refused and why) and one "plugin <name>" per plugin. Never throws for a missing
// or unreadable file or a failing plugin; those become items.
std::vector<DiagSection> run_diagnostics(const DiagnoseOptions& options);

// Formatting a report: a readable table grouped by section (the default) or a JSON array
// for scripts. Both are pure functions of the sections.
struct TableOptions {
  bool verbose = false;  // include `detail` items
  bool color = false;    // ANSI colours on the status column (only for a terminal)
};

// One header line per section, one line per item (status, key, value + unit, source), the
// hint indented on the next line, and a closing count of items by status.
std::string format_table(const std::vector<DiagSection>& sections, const TableOptions& options);

// A JSON array of objects {"section","key","value","unit","status","source","hint"}, every
// item including detail ones; status is one of ok, warn, fail, unknown, needs_root.
std::string format_json(const std::vector<DiagSection>& sections);

// 0 when no item failed, 1 otherwise.
int exit_code_for(const std::vector<DiagSection>& sections);

}  // namespace tessera::diag
