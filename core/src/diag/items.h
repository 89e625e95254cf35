// Helpers the check families use to build items; internal to tessera_diag.
#pragma once

#include <cstdint>
#include <string>

#include "diag/diag_item.h"
#include "diag/sysfs_reader.h"

namespace tessera::diag {

DiagItem make_item(std::string key, std::string value, std::string unit, DiagStatus status,
                   std::string source, std::string hint = {}, bool detail = false);

// The item for a value that could not be read: kNoAccess -> NEEDS_ROOT with the privilege
// hint; kMissing -> UNKNOWN "not present"; kError -> UNKNOWN with the error.
DiagItem unreadable_item(std::string key, const Field& field, std::string source,
                         bool detail = false);

// Whole MiB, rounded down, as decimal text.
std::string mib_text(uint64_t bytes);
// kHz text from sysfs -> MHz decimal text; nullopt-like empty string when unparsable.
std::string khz_to_mhz_text(const Field& field);

// The source label of a logical path: "procfs" for /proc, "sysfs" for /sys, else "file".
std::string source_of(const std::string& logical_path);

}  // namespace tessera::diag
