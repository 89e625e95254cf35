// The XPU plugin's tsr_ops_api table and op_supported, generated from ops.def: each entry
// runs the op under guard() so no exception crosses the ABI. Also the helpers every op uses.
#include <string>

#include "xpu_ops.h"

namespace tsr::xpu {
namespace {

#define TSR_OP(UPPER, lower, params)                                         \
  tsr_error* entry_##lower(tsr_stream_t stream, const params* p) {           \
    return sdk::guard([&] {                                                  \
      TSR_PLUGIN_CHECK_ARG(stream != nullptr, "%s: stream is NULL", #lower); \
      ops::lower(stream, p, true);                                           \
    });                                                                      \
  }
#include "tessera/ops.def"
#undef TSR_OP

// Turns an ABI error back into the exception guard() expects.
void rethrow(tsr_error* error) {
  if (error == nullptr) return;
  const tsr_error_code code = error->code;
  std::string message = error->message != nullptr ? error->message : "";
  error->destroy(error);
  throw sdk::Error(code, message);
}

// False only when the chosen runtime is known to have no kernels: Level Zero in a build
// made without the SPIR-V tools. Block copies and swaps need no kernel.
bool kernels_available(tsr_op_id op) {
  if (op == TSR_OP_COPY_BLOCKS || op == TSR_OP_SWAP_BLOCKS) return true;
  try {
    return std::string(runtime().name()) != "level_zero" || kernel_program().spirv != nullptr;
  } catch (const sdk::Error&) {
    return true;  // not initialized yet: the table answers
  }
}

}  // namespace

namespace ops {

void require_device(const tsr_stream_s* stream, const tsr_tensor& t, const char* op,
                    const char* field) {
  if (stream == nullptr || t.buffer == nullptr) return;
  TSR_PLUGIN_CHECK_ARG(t.buffer->kind == TSR_BUFFER_KIND_DEVICE,
                       "%s: %s: must be a device buffer, not pinned host memory", op, field);
  TSR_PLUGIN_CHECK_ARG(t.buffer->device->index == stream->device->index,
                       "%s: %s: buffer is on XPU device %d but the stream on device %d", op, field,
                       t.buffer->device->index, stream->device->index);
}

void require_on_device(const tsr_stream_s* stream, const OpTensors& tensors, const char* op) {
  for (const NamedTensor& t : tensors) {
    require_device(stream, *t.tensor, op, t.field);
    require_aligned(t.view, op, t.field);
  }
}

void require_device_buffer(const tsr_stream_s* stream, tsr_buffer_t buffer, const char* op,
                           const char* field) {
  tsr_tensor t{};
  t.struct_size = sizeof t;
  t.buffer = buffer;
  require_device(stream, t, op, field);
}

void launch(const tsr_stream_s* stream, const char* name, std::initializer_list<KernelArg> args,
            Dims groups, Dims local) {
  Runtime& rt = runtime();
  RtKernel kernel = rt.kernel(stream->device->index, name);
  rt.launch(stream->queue, kernel, args.begin(), args.size(), groups.data(), local.data());
}

// The block ops are whole-buffer byte moves validated against their host id arrays
// (xpu_memory.cpp); op_supported only checks the params struct.
void copy_blocks(tsr_stream_s* stream, const tsr_copy_blocks_params* p, bool execute) {
  TSR_PLUGIN_CHECK_ARG(p != nullptr && p->struct_size >= sizeof *p, "copy_blocks: params");
  TSR_PLUGIN_CHECK_ARG(
      p->src != nullptr && p->dst != nullptr && p->block_bytes > 0 && p->num_pairs >= 0,
      "copy_blocks: src, dst and block_bytes are required");
  if (execute) rethrow(::tsr::xpu::copy_blocks(stream, p));
}

void swap_blocks(tsr_stream_s* stream, const tsr_swap_blocks_params* p, bool execute) {
  TSR_PLUGIN_CHECK_ARG(p != nullptr && p->struct_size >= sizeof *p, "swap_blocks: params");
  TSR_PLUGIN_CHECK_ARG(p->device_buffer != nullptr && p->host_buffer != nullptr &&
                           p->block_bytes > 0 && p->num_pairs >= 0,
                       "swap_blocks: device_buffer, host_buffer and block_bytes are required");
  if (execute) rethrow(::tsr::xpu::swap_blocks(stream, p));
}

}  // namespace ops

const tsr_ops_api* ops_table() {
  static const tsr_ops_api table = [] {
    tsr_ops_api t{};
    t.struct_size = sizeof t;
#define TSR_OP(UPPER, lower, params) t.lower = &entry_##lower;
#include "tessera/ops.def"
#undef TSR_OP
    return t;
  }();
  return &table;
}

int op_supported(tsr_device_t device, tsr_op_id op, const void* params) {
  if (static_cast<int>(op) < 0 || op >= TSR_OP_COUNT || !kernels_available(op)) return 0;
  if (params == nullptr) return 1;
  tsr_stream_s probe{device, nullptr, nullptr, 0};
  tsr_error* error = sdk::guard([&] {
    switch (op) {
#define TSR_OP(UPPER, lower, params_type)                                                     \
  case TSR_OP_##UPPER:                                                                        \
    ops::lower(device != nullptr ? &probe : nullptr, static_cast<const params_type*>(params), \
               false);                                                                        \
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

}  // namespace tsr::xpu
