// Runtime ISA selection for our own kernels: what the CPU offers (cpuid, through
// __builtin_cpu_supports, which also checks that the OS saves the vector state) and which
// kernel set is in use. The choice is made at initialize(); the host option `cpu.isa`
// overrides the environment variable TESSERA_CPU_ISA, which overrides detection. Asking for
// an ISA the CPU lacks logs a warning and uses the best available one, so a wrong override
// never causes SIGILL.
#ifndef TESSERA_PLUGINS_CPU_ISA_H
#define TESSERA_PLUGINS_CPU_ISA_H

#include <string>

namespace tsr::cpu {

enum class Isa { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

const char* isa_name(Isa isa);

// The best kernel set this CPU can run (and this build compiled).
Isa detect_isa();

// Resolves the requested ISA (option, then environment, then detection) and activates the
// matching kernel set. Logs a warning on an unknown or unavailable request.
Isa select_isa();

// The ISA whose kernels are active.
Isa active_isa();

// A short list of the CPU's relevant features, e.g. "avx2 fma f16c".
std::string cpu_feature_list();

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_ISA_H
