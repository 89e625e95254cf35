#include "runtime/op_table.h"

#include <cstddef>

namespace tessera::runtime {

const char* op_name(tsr_op_id id) {
  switch (id) {
#define TSR_OP(UPPER, lower, params) \
  case TSR_OP_##UPPER:               \
    return #lower;
#include "tessera/ops.def"
#undef TSR_OP
    case TSR_OP_COUNT:
      break;
  }
  return "?";
}

bool has_op(const tsr_ops_api& ops, tsr_op_id id) {
  switch (id) {
#define TSR_OP(UPPER, lower, params)                                              \
  case TSR_OP_##UPPER:                                                            \
    return ops.struct_size >= offsetof(tsr_ops_api, lower) + sizeof(ops.lower) && \
           ops.lower != nullptr;
#include "tessera/ops.def"
#undef TSR_OP
    case TSR_OP_COUNT:
      break;
  }
  return false;
}

tsr_op_id first_missing_op(const tsr_ops_api& ops, std::span<const tsr_op_id> needed) {
  for (tsr_op_id id : needed) {
    if (!has_op(ops, id)) return id;
  }
  return TSR_OP_COUNT;
}

}  // namespace tessera::runtime
