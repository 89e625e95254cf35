// The ops of ops.def. Each function validates its params completely (throwing
// INVALID_ARGUMENT naming the field) and, when `execute` is true, runs the op
// synchronously: the CPU plugin executes work at enqueue time, so by the time an op
// returns its outputs are written and stream_synchronize has nothing to wait for.
// op_supported() calls them with execute == false.
#ifndef TESSERA_PLUGINS_CPU_OPS_H
#define TESSERA_PLUGINS_CPU_OPS_H

#include "tessera/plugin.h"

namespace tsr::cpu::ops {

#define TSR_OP(UPPER, lower, params) void lower(const params* p, bool execute);
#include "tessera/ops.def"
#undef TSR_OP

}  // namespace tsr::cpu::ops

namespace tsr::cpu {

const tsr_ops_api* ops_table();
int op_supported(tsr_device_t device, tsr_op_id op, const void* params);

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_OPS_H
