// Entry point of the core's host checks: reads everything through one SysfsReader and
// returns the sections "host", "cpu", "memory" and "pci" in that order. Never throws for a
// missing or unreadable file; those become items.
#pragma once

#include <vector>

#include "diag/diag_item.h"
#include "diag/readings.h"
#include "diag/sysfs_reader.h"

namespace tessera::diag {

struct HostCheckOptions {
  // Device memory sizes learned from plugins, matched to PCI devices by address.
  std::vector<VramHint> vram_hints;
};

std::vector<DiagSection> run_host_checks(const SysfsReader& reader,
                                         const HostCheckOptions& options = {});

}  // namespace tessera::diag
