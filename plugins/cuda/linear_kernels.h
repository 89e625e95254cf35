// Launch interface of the linear op's own kernels, shared by the host code (g++) and
// linear_quant.cu / linear_fp8.cu (nvcc). Only <cuda_runtime.h>, <cstdint> and plugin.h
// types, so both compilers read it.
//
// Row-major throughout: out[M, N] = x[M, K] · W^T (+ bias[N]), W is N rows of K. Every launch
// function only enqueues work (no allocation, no synchronization) and returns
// cudaGetLastError(); values the host validated (shapes, dtypes) are trusted.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "tessera/plugin.h"

namespace tsr::cuda {

// How the weight bytes are encoded on the device (see cuda_weights.h for the layouts).
// kInt4Asym / kInt8Asym: unsigned codes u with per-group scale and min, w = u * scale + min
// (INT4_GROUP_ASYM / INT8_GROUP_ASYM).
enum class WeightKind : int {
  kF32 = 0,
  kF16 = 1,
  kBF16 = 2,
  kInt8 = 3,
  kInt4 = 4,
  kFp8 = 5,
  kInt4Asym = 6,
  kInt8Asym = 7
};

inline constexpr bool is_quantized_kind(WeightKind k) {
  return k == WeightKind::kInt8 || k == WeightKind::kInt4 || k == WeightKind::kFp8 ||
         k == WeightKind::kInt4Asym || k == WeightKind::kInt8Asym;
}

inline constexpr bool is_asym_kind(WeightKind k) {
  return k == WeightKind::kInt4Asym || k == WeightKind::kInt8Asym;
}

// A prepacked weight as the kernels see it.
struct WeightView {
  const unsigned char* data = nullptr;  // n rows of `ld` bytes, 256-byte aligned base
  const float* scales = nullptr;        // [n][groups] f32 for the quantized kinds
  const float* mins = nullptr;          // [n][groups] f32 for the asym kinds, else nullptr
  int64_t n = 0;
  int64_t k = 0;
  int64_t ld = 0;      // bytes per row; a multiple of 16 for the quantized kinds
  int64_t group = 0;   // elements per scale group along k (k for per-row scales)
  int64_t groups = 0;  // scales per row: k / group
  WeightKind kind = WeightKind::kF32;
};

// One call's activations and output. bias (nullptr when absent) has x_dtype.
struct LinearIo {
  const void* x = nullptr;
  tsr_dtype x_dtype = TSR_DTYPE_F32;
  int64_t m = 0;
  const void* bias = nullptr;
  void* out = nullptr;
  tsr_dtype out_dtype = TSR_DTYPE_F32;
};

// Rows of x up to which launch_quant_gemv serves (decode batches).
inline constexpr int64_t kGemvMaxRows = 8;

// Memory-bound GEMV for the quantized kinds (is_quantized_kind), 1 <= io.m <= kGemvMaxRows:
// each weight byte is read once per call and dequantized in registers.
cudaError_t launch_quant_gemv(const WeightView& w, const LinearIo& io, cudaStream_t stream);

// Tiled f32 GEMM for any kind and any m (prefill of quantized weights; dense weights when
// cuBLASLt is unavailable): tiles of W are dequantized into shared memory.
cudaError_t launch_tiled_gemm(const WeightView& w, const LinearIo& io, cudaStream_t stream);

// linear_fp8.cu -------------------------------------------------------------------------

// out[r, c] = acc[r, c] * (col_scale ? col_scale[c] : 1) + (bias ? bias[c] : 0), stored as
// out_dtype. acc (f32 [rows, cols]) may be the same memory as out when out_dtype is F32.
cudaError_t launch_linear_epilogue(const float* acc, int64_t rows, int64_t cols,
                                   const float* col_scale, const void* bias, tsr_dtype bias_dtype,
                                   void* out, tsr_dtype out_dtype, cudaStream_t stream);

// dst = src converted between activation dtypes (F32, F16, BF16), round to nearest even.
cudaError_t launch_convert(const void* src, tsr_dtype src_dtype, void* dst, tsr_dtype dst_dtype,
                           int64_t count, cudaStream_t stream);

// Dynamic per-tensor quantization of x (count elements) to e4m3: *amax (a device word) is
// zeroed and set to max |x|, *scale (device f32) to amax / 448 (1 when amax is 0 or not
// finite) and q[i] = e4m3(x[i] / *scale), saturating to ±448.
cudaError_t launch_fp8_quantize(const void* x, tsr_dtype x_dtype, int64_t count, unsigned char* q,
                                unsigned int* amax, float* scale, cudaStream_t stream);

}  // namespace tsr::cuda
