// Facts about the host read from /proc (no privileges needed): CPU model name and memory.
#ifndef TESSERA_PLUGINS_CPU_HOST_INFO_H
#define TESSERA_PLUGINS_CPU_HOST_INFO_H

#include <cstdint>
#include <string>

namespace tsr::cpu {

// "model name" of /proc/cpuinfo, or "unknown CPU".
std::string cpu_model_name();
// A /proc/meminfo field in bytes (e.g. "MemTotal", "MemAvailable"); 0 when absent.
uint64_t meminfo_bytes(const char* field);
// The CPUs this process may run on (sched_getaffinity), as a range list "0-3,8".
std::string affinity_list();
int affinity_count();

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_HOST_INFO_H
