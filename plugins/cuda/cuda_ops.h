// The CUDA plugin's ops, one function per line of ops.def, each defined in the ops_*.cpp
// file of its family. Every op validates its params (struct sizes, dtypes, shapes, buffer
// ranges: tsr::plugin's checks, which never read tensor data) and throws sdk::Error on a
// mismatch; with execute == false it only validates (op_supported), and `stream` may then be
// NULL. With execute == true it enqueues kernels on stream->stream and returns without
// synchronizing. Ops never allocate device memory except through stream_workspace(), never
// synchronize and never copy from pageable host memory, so every op can be captured into a
// CUDA graph. Values that live in device memory (token ids, slots, block tables) cannot be
// checked on the host: kernels clamp or skip out-of-range ones and never touch memory
// outside a buffer.
#pragma once

#include "cuda_internal.h"
#include "op_checks.h"
#include "tensor_check.h"

namespace tsr::cuda::ops {

using namespace tsr::plugin;

#define TSR_OP(UPPER, lower, params) \
  void lower(tsr_stream_s* stream, const params* p, bool execute);
#include "tessera/ops.def"
#undef TSR_OP

// Throws INVALID_ARGUMENT unless the buffers behind `v`'s tensor live on the stream's device.
void require_device(const tsr_stream_s* stream, const tsr_tensor& t, const char* op,
                    const char* field);
// require_device and require_aligned (kernels access elements at their natural alignment)
// for every tensor of a shared check's list (plugins/common/op_checks.h).
void require_on_device(const tsr_stream_s* stream, const OpTensors& tensors, const char* op);
// A KV cache (or other raw buffer) must be a device buffer of the stream's device.
void require_device_buffer(const tsr_stream_s* stream, tsr_buffer_t buffer, const char* op,
                           const char* field);

}  // namespace tsr::cuda::ops
