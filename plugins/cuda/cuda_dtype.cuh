// Device-side helpers shared by the CUDA plugin's kernels: loading activations of any
// activation dtype as f32 and storing f32 back, a host-side switch that instantiates a
// kernel for the dtype of a tensor, and the kernel launch and dynamic shared memory forms
// every .cu file uses. Included only by .cu files.
//
// Host emulation: tests/cuda_emulation compiles the .cu files as C++ with
// TSR_CUDA_HOST_EMULATION defined after its SIMT emulator header, so CI without a GPU runs
// the real kernel source. That is why kernels are launched with tsr_cuda_launch and declare
// dynamic shared memory with TSR_CUDA_DYNAMIC_SHARED instead of the nvcc-only syntax; under
// nvcc both expand to exactly that syntax.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "tessera/plugin.h"

#if defined(TSR_CUDA_HOST_EMULATION) && !defined(TSR_SIMT_EMULATOR)
#error "TSR_CUDA_HOST_EMULATION needs tests/cuda_emulation/simt_emulator.h included first"
#endif

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

// kernel<<<grid, block, shared_bytes, stream>>>(args...).
template <class... Params, class... Args>
inline void tsr_cuda_launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
                            cudaStream_t stream, const Args&... args) {
#if defined(TSR_CUDA_HOST_EMULATION)
  (void)stream;
  tsr_cuda_emulated_launch(reinterpret_cast<const void*>(kernel), grid, block, shared_bytes,
                           [&] { kernel(args...); });
#else
  // clang-format reads .cuh as C++ and would split the chevrons.
  // clang-format off
  kernel<<<grid, block, shared_bytes, stream>>>(args...);
  // clang-format on
#endif
}

// Element i of a buffer of activation dtype `dtype` (F32, F16, BF16; chosen at run time) as
// f32, and the converse store (round to nearest even).
__device__ __forceinline__ float load_as_f32(const void* base, int64_t i, tsr_dtype dtype) {
  switch (dtype) {
    case TSR_DTYPE_F16:
      return to_f32(static_cast<const __half*>(base)[i]);
    case TSR_DTYPE_BF16:
      return to_f32(static_cast<const __nv_bfloat16*>(base)[i]);
    default:
      return static_cast<const float*>(base)[i];
  }
}

__device__ __forceinline__ void store_from_f32(void* base, int64_t i, tsr_dtype dtype, float v) {
  switch (dtype) {
    case TSR_DTYPE_F16:
      static_cast<__half*>(base)[i] = from_f32<__half>(v);
      break;
    case TSR_DTYPE_BF16:
      static_cast<__nv_bfloat16*>(base)[i] = from_f32<__nv_bfloat16>(v);
      break;
    default:
      static_cast<float*>(base)[i] = v;
      break;
  }
}

// Eight consecutive elements as f32; `vec` says the address is 16-byte aligned, so one
// 16-byte load (two for f32) replaces eight scalar ones.
template <class T>
__device__ __forceinline__ void load8(const T* src, bool vec, float (&v)[8]) {
  if constexpr (sizeof(T) == 2) {
    if (vec) {
      const uint4 raw = *reinterpret_cast<const uint4*>(src);
      const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = to_f32(e[i]);
      return;
    }
  } else {
    if (vec) {
      const float4 a = reinterpret_cast<const float4*>(src)[0];
      const float4 b = reinterpret_cast<const float4*>(src)[1];
      v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
      v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
      return;
    }
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = to_f32(src[i]);
}

}  // namespace tsr::cuda

// Declares NAME as the kernel's dynamic shared memory, an array of TYPE.
#if defined(TSR_CUDA_HOST_EMULATION)
#define TSR_CUDA_DYNAMIC_SHARED(TYPE, NAME) \
  TYPE* NAME = static_cast<TYPE*>(tsr_cuda_emulated_dynamic_shared())
#else
#define TSR_CUDA_DYNAMIC_SHARED(TYPE, NAME) extern __shared__ TYPE NAME[]
#endif

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
