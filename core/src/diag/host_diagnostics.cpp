// Runs every host check family; see host_diagnostics.h.
#include "diag/host_diagnostics.h"

namespace tessera::diag {

std::vector<DiagSection> run_host_checks(const SysfsReader& reader,
                                         const HostCheckOptions& options) {
  std::vector<DiagSection> sections;
  sections.push_back({"host", check_host(read_host(reader))});
  sections.push_back({"cpu", check_cpu(read_cpu(reader))});
  sections.push_back({"memory", check_memory(read_memory(reader))});
  sections.push_back({"pci", check_pci(read_pci(reader, options.vram_hints))});
  return sections;
}

}  // namespace tessera::diag
