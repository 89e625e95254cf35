// DiagStatus helpers; see diag_item.h.
#include "diag/diag_item.h"

namespace tessera::diag {

std::string_view status_name(DiagStatus status) {
  switch (status) {
    case DiagStatus::kOk:
      return "ok";
    case DiagStatus::kWarn:
      return "warn";
    case DiagStatus::kFail:
      return "fail";
    case DiagStatus::kUnknown:
      return "unknown";
    case DiagStatus::kNeedsRoot:
      return "needs_root";
  }
  return "unknown";
}

DiagStatus status_from_c(int value) {
  switch (value) {
    case TSR_DIAG_STATUS_OK:
      return DiagStatus::kOk;
    case TSR_DIAG_STATUS_WARN:
      return DiagStatus::kWarn;
    case TSR_DIAG_STATUS_FAIL:
      return DiagStatus::kFail;
    case TSR_DIAG_STATUS_NEEDS_ROOT:
      return DiagStatus::kNeedsRoot;
    default:
      return DiagStatus::kUnknown;
  }
}

int severity(DiagStatus status) {
  switch (status) {
    case DiagStatus::kOk:
      return 0;
    case DiagStatus::kUnknown:
      return 1;
    case DiagStatus::kNeedsRoot:
      return 2;
    case DiagStatus::kWarn:
      return 3;
    case DiagStatus::kFail:
      return 4;
  }
  return 1;
}

DiagStatus worst(DiagStatus a, DiagStatus b) {
  return severity(a) >= severity(b) ? a : b;
}

bool has_failure(const std::vector<DiagSection>& sections) {
  for (const auto& section : sections) {
    for (const auto& item : section.items) {
      if (item.status == DiagStatus::kFail) return true;
    }
  }
  return false;
}

}  // namespace tessera::diag
