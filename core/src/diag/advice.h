// The advice attached to warn/fail/needs_root items: one function per rule, so the wording
// of every recommendation lives in one place and tests can match on it. Pure text builders.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::diag::advice {

std::string needs_root(std::string_view path);
std::string governor(std::string_view current);
std::string epp();
std::string intel_turbo_off();
std::string boost_off();
std::string freq_capped(uint64_t hw_max_mhz);
std::string thp(std::string_view current);
std::string memory_low();
std::string isa_without_avx2();
std::string cpufreq_absent();
std::string aspm_policy(std::string_view current);
std::string link_below_max(bool speed, bool width);
// Resizable BAR not in effect. `supported_max_mib` is 0 when the device's resize
// capability is unknown; `vram_known` says whether the verdict came from the memory size
// (else from the resize capability alone).
std::string rebar(uint64_t bar_mib, uint64_t supported_max_mib, bool vram_known);
std::string above4g();
std::string vram_unknown(std::string_view driver);
std::string driver_missing(uint32_t vendor);
std::string driver_vfio();
// Intel Arc: kernel/driver generations. `family` is "DG2" or "Battlemage".
std::string arc_driver(std::string_view family);

}  // namespace tessera::diag::advice
