// In-process collectives for ranks that are threads of one process (see collectives.cpp).
#ifndef TESSERA_PLUGINS_CPU_COLLECTIVES_H
#define TESSERA_PLUGINS_CPU_COLLECTIVES_H

#include "tessera/plugin.h"

namespace tsr::cpu {
const tsr_collectives_api* collectives_table();
}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_COLLECTIVES_H
