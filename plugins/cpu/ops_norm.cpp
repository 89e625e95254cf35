// rms_norm, optionally fused with the residual add (vLLM's fused_add_rms_norm). The
// normalisation runs in f32; with a residual, the sum is rounded to the activation dtype
// and written back first, and the rounded value is what gets normalised.
#include <cmath>

#include "convert.h"
#include "cpu_internal.h"
#include "kernels.h"
#include "op_checks.h"
#include "ops.h"
#include "parallel.h"
#include "tensor_check.h"

namespace tsr::cpu::ops {

void rms_norm(const tsr_rms_norm_params* p, bool execute) {
  constexpr const char* op = "rms_norm";
  const auto& prm = *p;
  const auto [x, weight, out, residual, fused, tensors] = check_rms_norm(p, op);
  if (!execute) return;

  const int64_t rows = x.rows();
  const int64_t h = x.cols();
  const tsr_dtype dtype = x.dtype;
  const size_t elem = x.elem;
  const float* w = as_f32(weight.data, weight.dtype, h, 5);
  const float eps = prm.eps;
  parallel_for(
      rows,
      // The structured bindings by init-capture: clang before 16 cannot capture them.
      [&, &x = x, &residual = residual, &out = out, fused = fused](int64_t r) {
        const size_t offset = static_cast<size_t>(r * h) * elem;
        const float* v = as_f32(x.data + offset, dtype, h, 0);
        if (fused) {
          float* sum = scratch_f32(1, static_cast<size_t>(h));
          load_f32(residual.data + offset, dtype, sum, h);
          kernels().add(sum, v, sum, h);
          store_f32(sum, dtype, residual.data + offset, h);
          if (dtype != TSR_DTYPE_F32) load_f32(residual.data + offset, dtype, sum, h);
          v = sum;
        }
        const float mean = h > 0 ? kernels().sum_squares(v, h) / static_cast<float>(h) : 0.0f;
        const float inv = 1.0f / std::sqrt(mean + eps);
        unsigned char* dst = out.data + offset;
        float* result = dtype == TSR_DTYPE_F32 ? reinterpret_cast<float*>(dst)
                                               : scratch_f32(2, static_cast<size_t>(h));
        kernels().mul_scaled(v, w, inv, result, h);
        if (dtype != TSR_DTYPE_F32) store_f32(result, dtype, dst, h);
      },
      x.numel > kParallelGrain);
}

}  // namespace tsr::cpu::ops
