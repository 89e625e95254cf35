// Ops whose XPU kernels have not landed yet: they answer UNIMPLEMENTED, and the op table
// leaves them NULL (xpu_ops_table.cpp) so op_supported says 0 and callers never plan on them.
#include "xpu_ops.h"

namespace tsr::xpu::ops {

void sample(tsr_stream_s*, const tsr_sample_params*, bool) {
  throw sdk::Error(TSR_ERROR_CODE_UNIMPLEMENTED, "sample: no XPU kernel yet");
}

}  // namespace tsr::xpu::ops
