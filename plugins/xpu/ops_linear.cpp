// The XPU plugin's linear (kernels/linear.cl): validation as the CPU and CUDA plugins do it,
// then, for every weight format, a GEMV kernel for decode-sized batches (each weight row
// read once for all rows of x) or a tiled kernel for the rest.
#include "xpu_ops.h"

namespace tsr::xpu::ops {
namespace {
constexpr const char* kOp = "linear";
constexpr size_t kTile = 16;         // XPU_LINEAR_TILE
constexpr size_t kGemvThreads = 64;  // XPU_GEMV_THREADS
constexpr int64_t kGemvMaxRows = 8;  // XPU_GEMV_MAX_ROWS
}  // namespace

void linear(tsr_stream_s* stream, const tsr_linear_params* p, bool execute) {
  const auto& prm = tsr::plugin::linear_params(p, kOp);
  const tsr_weight_s* w = check_weight(prm.weight, "linear: weight");
  const View x = view(prm.x, kOp, "x");
  require_device(stream, prm.x, kOp, "x");
  require_device(stream, prm.out, kOp, "out");
  require_activation(x, kOp, "x");
  require_dim(x, x.ndim - 1, w->cols, kOp, "x");
  // No out_parts here (the device does not claim TSR_DEVICE_CAP_LINEAR_OUT_PARTS).
  const View out = tsr::plugin::check_linear_outputs(prm, x, w->rows, false, kOp).outs[0];
  const bool has_bias = present(prm.bias);
  if (has_bias) {
    const View bias = view(prm.bias, kOp, "bias");
    require_device(stream, prm.bias, kOp, "bias");
    require_dtype(bias, x.dtype, kOp, "bias");
    require_ndim(bias, 1, kOp, "bias");
    require_dim(bias, 0, w->rows, kOp, "bias");
    require_no_overlap(out, bias, kOp, "out", "bias");
    require_aligned(bias, kOp, "bias");
  }
  require_aligned(x, kOp, "x");
  require_aligned(out, kOp, "out");
  if (stream != nullptr) {
    TSR_PLUGIN_CHECK_ARG(w->device->index == stream->device->index,
                         "%s: weight: prepacked on XPU device %d but the stream is on device %d",
                         kOp, w->device->index, stream->device->index);
  }
  const int64_t m = x.rows();
  if (!execute || m == 0) return;
  const int64_t n = w->rows;
  const int64_t k = w->cols;
  const int32_t x_dtype = x.dtype;
  const int32_t out_dtype = out.dtype;
  const int32_t format = w->format;
  const int64_t group = w->group_size;
  const tsr_tensor none{};
  const bool gemv = m <= kGemvMaxRows;
  launch(stream, gemv ? "xpu_linear_gemv" : "xpu_linear",
         {arg(prm.x), KernelArg::scalar(x_dtype), KernelArg::buffer(w->data, 0),
          KernelArg::buffer(w->scales, 0), KernelArg::buffer(w->mins, 0), KernelArg::scalar(format),
          KernelArg::scalar(group), arg(has_bias ? prm.bias : none), arg(prm.out),
          KernelArg::scalar(out_dtype), KernelArg::scalar(m), KernelArg::scalar(n),
          KernelArg::scalar(k)},
         gemv ? Dims{static_cast<size_t>(n), 1, 1}
              : Dims{groups_for(n, kTile), groups_for(m, kTile), 1},
         gemv ? Dims{kGemvThreads, 1, 1} : Dims{kTile, kTile, 1});
}

}  // namespace tsr::xpu::ops
