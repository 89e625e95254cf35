// The XPU plugin's ops, one function per line of ops.def, each defined in the ops_*.cpp file
// of its family. Every op validates its params with plugins/common's checks (which never
// read tensor data) plus the XPU's own (buffers on the stream's device, natural alignment)
// and throws sdk::Error on a mismatch; with execute == false it only validates
// (op_supported), and `stream` may then be NULL. With execute == true it enqueues kernels
// on the stream's queue and returns without waiting. Values that live in device memory
// (token ids, slots, block tables) cannot be checked on the host: kernels skip or zero
// out-of-range ones and never touch memory outside a buffer.
#pragma once

#include <array>
#include <initializer_list>

#include "op_checks.h"
#include "tensor_check.h"
#include "xpu_internal.h"

namespace tsr::xpu::ops {

using namespace tsr::plugin;

#define TSR_OP(UPPER, lower, params) \
  void lower(tsr_stream_s* stream, const params* p, bool execute);
#include "tessera/ops.def"
#undef TSR_OP

// Throws INVALID_ARGUMENT unless the tensor's buffer is a device buffer of the stream's
// device (nothing to check when either is absent).
void require_device(const tsr_stream_s* stream, const tsr_tensor& t, const char* op,
                    const char* field);
// require_device and require_aligned (kernels access elements at their natural alignment)
// for every tensor of a shared check's list (plugins/common/op_checks.h).
void require_on_device(const tsr_stream_s* stream, const OpTensors& tensors, const char* op);
// A KV cache (or other raw buffer) must be a device buffer of the stream's device.
void require_device_buffer(const tsr_stream_s* stream, tsr_buffer_t buffer, const char* op,
                           const char* field);

// A tensor as a kernel argument (buffer, byte offset); an absent tensor passes NULL.
inline KernelArg arg(const tsr_tensor& t) {
  return KernelArg::buffer(t.buffer != nullptr ? t.buffer->mem : nullptr, t.offset);
}
inline KernelArg arg_buffer(tsr_buffer_t b) {
  return KernelArg::buffer(b != nullptr ? b->mem : nullptr, 0);
}

using Dims = std::array<size_t, 3>;
inline size_t groups_for(int64_t n, size_t local) {
  return static_cast<size_t>((n + static_cast<int64_t>(local) - 1) / static_cast<int64_t>(local));
}

// Enqueues kernel `name` with groups x local work-items on the stream's queue.
void launch(const tsr_stream_s* stream, const char* name, std::initializer_list<KernelArg> args,
            Dims groups, Dims local);

}  // namespace tsr::xpu::ops
