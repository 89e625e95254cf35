// Formatting a diagnostics report: a readable table grouped by section (the default) or a
// JSON array for scripts. Both are pure functions of the sections.
#pragma once

#include <string>
#include <vector>

#include "diag/diag_item.h"

namespace tessera::diag {

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
