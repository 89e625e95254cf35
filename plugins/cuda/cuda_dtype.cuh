// Device-side helpers shared by the CUDA plugin's kernels: loading activations of any
// activation dtype as f32 and storing f32 back, and a host-side switch that instantiates a
// kernel for the dtype of a tensor. Included only by .cu files.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "tessera/plugin.h"

namespace tsr::cuda {

template <class T>
__device__ __forceinline__ float to_f32(T v);
template <>
__device__ __forceinline__ float to_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ float to_f32<__half>(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

// Round to nearest even, as the CPU plugin and the conformance references convert.
template <class T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

}  // namespace tsr::cuda

// Runs BODY with `scalar_t` bound to the C++ type of activation dtype DTYPE (F32, F16, BF16);
// any other dtype is a bug of the caller, which validated it.
#define TSR_CUDA_DISPATCH_ACTIVATION(DTYPE, ...) \
  do {                                           \
    switch (DTYPE) {                             \
      case TSR_DTYPE_F32: {                      \
        using scalar_t = float;                  \
        __VA_ARGS__;                             \
        break;                                   \
      }                                          \
      case TSR_DTYPE_F16: {                      \
        using scalar_t = __half;                 \
        __VA_ARGS__;                             \
        break;                                   \
      }                                          \
      case TSR_DTYPE_BF16: {                     \
        using scalar_t = __nv_bfloat16;          \
        __VA_ARGS__;                             \
        break;                                   \
      }                                          \
      default:                                   \
        break;                                   \
    }                                            \
  } while (0)
