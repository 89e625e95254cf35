// The XPU plugin's diagnostic rules: a pure function from an XpuSnapshot to findings, tested
// with fixture sysfs trees and hand-built snapshots. A reading refused for lack of
// privileges becomes NEEDS_ROOT, never a "no"; each warn/fail finding carries a hint.
#pragma once

#include <string>
#include <vector>

#include "tessera/plugin.h"
#include "xpu_snapshot.h"

namespace tsr::xpu {

struct DiagItem {
  std::string key;
  std::string value;
  std::string unit;
  tsr_diag_status status = TSR_DIAG_STATUS_OK;
  std::string source;
  std::string hint;
};

std::vector<DiagItem> evaluate_xpu_snapshot(const XpuSnapshot& snapshot);

// Kernel release "6.5.0-21-generic" -> {6, 5}; {0, 0} when unparsable.
std::pair<int, int> kernel_version(const std::string& release);

void push_items(const std::vector<DiagItem>& items, const tsr_diag_sink* sink);

}  // namespace tsr::xpu
