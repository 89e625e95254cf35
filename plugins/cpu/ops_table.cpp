// The tsr_ops_api table and op_supported, generated from ops.def: each entry checks the
// plugin state and stream, binds the thread count and runs the op under guard() so no
// exception crosses the ABI.
#include "cpu_internal.h"
#include "ops.h"
#include "parallel.h"

namespace tsr::cpu {
namespace {

// While the stream captures a graph, an op is validated now and a copy of its params is
// recorded; the launch runs it without validating again.
template <class Params>
void record(tsr_stream_s* stream, const Params* p, void (*op)(const Params*, bool)) {
  op(p, false);
  Params copy = *p;
  copy.struct_size = sizeof copy;
  stream->capturing->steps.push_back([copy, op] {
    bind_threads();
    op(&copy, true);
  });
}

// Block copies take host arrays of block ids that are read during the call only, so a
// recording could not keep them; the engine never captures them.
template <>
void record<tsr_copy_blocks_params>(tsr_stream_s* stream, const tsr_copy_blocks_params*,
                                    void (*)(const tsr_copy_blocks_params*, bool)) {
  refuse_during_capture(stream, "copy_blocks");
}
template <>
void record<tsr_swap_blocks_params>(tsr_stream_s* stream, const tsr_swap_blocks_params*,
                                    void (*)(const tsr_swap_blocks_params*, bool)) {
  refuse_during_capture(stream, "swap_blocks");
}

#define TSR_OP(UPPER, lower, params)                               \
  tsr_error* entry_##lower(tsr_stream_t stream, const params* p) { \
    return tsr::sdk::guard([&] {                                   \
      require_initialized(#lower);                                 \
      tsr_stream_s* s = check_stream(stream, #lower ": stream");   \
      if (s->capturing != nullptr) {                               \
        record<params>(s, p, &ops::lower);                         \
        return;                                                    \
      }                                                            \
      bind_threads();                                              \
      ops::lower(p, true);                                         \
    });                                                            \
  }
#include "tessera/ops.def"
#undef TSR_OP

const tsr_ops_api kOps = {
    sizeof(tsr_ops_api),
#define TSR_OP(UPPER, lower, params) &entry_##lower,
#include "tessera/ops.def"
#undef TSR_OP
};

}  // namespace

const tsr_ops_api* ops_table() {
  return &kOps;
}

int op_supported(tsr_device_t device, tsr_op_id op, const void* params) {
  if (device != nullptr && device->magic != kDeviceMagic) return 0;
  if (static_cast<int>(op) < 0 || op >= TSR_OP_COUNT) return 0;
  if (params == nullptr) return 1;
  tsr_error* error = tsr::sdk::guard([&] {
    switch (op) {
#define TSR_OP(UPPER, lower, params_type)                       \
  case TSR_OP_##UPPER:                                          \
    ops::lower(static_cast<const params_type*>(params), false); \
    break;
#include "tessera/ops.def"
#undef TSR_OP
      case TSR_OP_COUNT:
        break;
    }
  });
  if (error == nullptr) return 1;
  error->destroy(error);
  return 0;
}

}  // namespace tsr::cpu
