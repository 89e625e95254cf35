// The diagnostics data model (DiagStatus, DiagItem, DiagSection) is public:
// tessera/diagnostics.h. This header adds the helpers the checks use among themselves.
#pragma once

#include "tessera/diagnostics.h"

namespace tessera::diag {

// A plugin may send any integer; values outside the enum become kUnknown.
DiagStatus status_from_c(int value);
// Severity order for summaries: fail > warn > needs_root > unknown > ok.
int severity(DiagStatus status);
DiagStatus worst(DiagStatus a, DiagStatus b);

}  // namespace tessera::diag
