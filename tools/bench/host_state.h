// The state of the machine a benchmark ran on, saved beside its figures so that two results
// can be compared: load average, CPU count, and the host checks of `tessera diagnose --json`
// (CPU governor, turbo, memory, PCIe …; the plugins' device checks are left out because
// they may initialize a device runtime in the benchmark's process).
#pragma once

#include <nlohmann/json.hpp>

namespace tessera::bench {

nlohmann::json host_state();

}  // namespace tessera::bench
