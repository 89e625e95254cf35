// Activation dtype conversions (see convert.h).
#include "convert.h"

#include <cstring>

#include "kernels.h"
#include "parallel.h"
#include "tessera/plugin.hpp"

namespace tsr::cpu {

void load_f32(const void* src, tsr_dtype dtype, float* dst, int64_t n) {
  switch (dtype) {
    case TSR_DTYPE_F32:
      if (src != dst) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TSR_DTYPE_BF16:
      kernels().bf16_to_f32(static_cast<const uint16_t*>(src), dst, n);
      return;
    case TSR_DTYPE_F16:
      kernels().f16_to_f32(static_cast<const uint16_t*>(src), dst, n);
      return;
    default:
      throw tsr::sdk::Error(TSR_ERROR_CODE_INTERNAL, "load_f32: not an activation dtype");
  }
}

void store_f32(const float* src, tsr_dtype dtype, void* dst, int64_t n) {
  switch (dtype) {
    case TSR_DTYPE_F32:
      if (src != dst) std::memmove(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TSR_DTYPE_BF16:
      kernels().f32_to_bf16(src, static_cast<uint16_t*>(dst), n);
      return;
    case TSR_DTYPE_F16:
      kernels().f32_to_f16(src, static_cast<uint16_t*>(dst), n);
      return;
    default:
      throw tsr::sdk::Error(TSR_ERROR_CODE_INTERNAL, "store_f32: not an activation dtype");
  }
}

const float* as_f32(const void* src, tsr_dtype dtype, int64_t n, int slot) {
  if (dtype == TSR_DTYPE_F32) return static_cast<const float*>(src);
  float* out = scratch_f32(slot, static_cast<size_t>(n));
  load_f32(src, dtype, out, n);
  return out;
}

}  // namespace tsr::cpu
