// The op table of sdk/include/tessera/ops.def, seen from the host: each op's name, and
// whether a plugin implements it. Generated from ops.def (X-macro), so a new op needs no
// edit here.
#pragma once

#include <span>

#include "tessera/plugin.h"

namespace tessera::runtime {

// "embedding", "rms_norm", … (ops.def's lower_name); "?" for an id outside the table.
const char* op_name(tsr_op_id id);

// Whether `ops` implements `id`: the plugin's table is long enough to hold the op's entry
// (the ABI appends ops, so an older plugin's table is shorter; struct_size says how long)
// and the entry is set.
bool has_op(const tsr_ops_api& ops, tsr_op_id id);

// The first of `needed` that `ops` lacks, or TSR_OP_COUNT when it has them all.
tsr_op_id first_missing_op(const tsr_ops_api& ops, std::span<const tsr_op_id> needed);

}  // namespace tessera::runtime
