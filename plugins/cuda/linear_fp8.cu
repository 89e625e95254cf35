// fp8 helpers and the small elementwise kernels of the linear op (see linear_kernels.h):
//   - launch_fp8_quantize: dynamic per-tensor e4m3 quantization of the activations for
//     cuBLASLt's fp8 matmul: a grid-wide amax (block max, then atomicMax on the f32 bits,
//     which order like unsigned integers for non-negative values) and a quantize pass that
//     derives the scale from that amax on the device, so the host never reads it back and
//     the sequence can be captured into a graph;
//   - launch_linear_epilogue: per-output-column scale (fp8 weights' per-row scales) and bias
//     added to an f32 accumulator, converted to the output dtype;
//   - launch_convert: activation dtype conversion (x into the dtype a dense weight is kept in).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "cuda_dtype.cuh"
#include "linear_kernels.h"

namespace tsr::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 4096;
constexpr float kE4m3Max = 448.0f;

unsigned grid_for(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks < kMaxBlocks ? blocks : kMaxBlocks));
}

__global__ void __launch_bounds__(kThreads)
    amax_kernel(const void* x, tsr_dtype dtype, int64_t count, unsigned int* amax) {
  float local = 0.0f;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    local = fmaxf(local, fabsf(load_as_f32(x, i, dtype)));
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    local = fmaxf(local, __shfl_xor_sync(0xffffffffu, local, off));
  }
  __shared__ float warp_max[kThreads / 32];
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  if (lane == 0) warp_max[warp] = local;
  __syncthreads();
  if (threadIdx.x == 0) {
    float block = 0.0f;
    for (int i = 0; i < kThreads / 32; ++i) block = fmaxf(block, warp_max[i]);
    atomicMax(amax, __float_as_uint(block));
  }
}

__global__ void __launch_bounds__(kThreads)
    quantize_kernel(const void* x, tsr_dtype dtype, int64_t count, unsigned char* q,
                    const unsigned int* amax, float* scale_out) {
  const float a = __uint_as_float(*amax);
  // A zero or non-finite amax cannot give a useful scale; 1 keeps the matmul well defined
  // (infinities saturate, as any per-tensor fp8 scheme does).
  const float scale = a > 0.0f && isfinite(a) ? a / kE4m3Max : 1.0f;
  const float inv = 1.0f / scale;
  if (blockIdx.x == 0 && threadIdx.x == 0) *scale_out = scale;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    q[i] = __nv_cvt_float_to_fp8(load_as_f32(x, i, dtype) * inv, __NV_SATFINITE, __NV_E4M3);
  }
}

// acc and out may be the same memory (f32 out): each element is read, then written, by the
// same thread, so neither pointer is __restrict__.
__global__ void __launch_bounds__(kThreads)
    epilogue_kernel(const float* acc, int64_t rows, int64_t cols, const float* col_scale,
                    const void* bias, tsr_dtype bias_dtype, void* out, tsr_dtype out_dtype) {
  const int64_t count = rows * cols;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    const int64_t c = i % cols;
    float v = acc[i];
    if (col_scale != nullptr) v *= col_scale[c];
    if (bias != nullptr) v += load_as_f32(bias, c, bias_dtype);
    store_from_f32(out, i, out_dtype, v);
  }
}

__global__ void __launch_bounds__(kThreads)
    convert_kernel(const void* src, tsr_dtype src_dtype, void* dst, tsr_dtype dst_dtype,
                   int64_t count) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    store_from_f32(dst, i, dst_dtype, load_as_f32(src, i, src_dtype));
  }
}

}  // namespace

cudaError_t launch_linear_epilogue(const float* acc, int64_t rows, int64_t cols,
                                   const float* col_scale, const void* bias, tsr_dtype bias_dtype,
                                   void* out, tsr_dtype out_dtype, cudaStream_t stream) {
  if (rows < 1 || cols < 1) return cudaSuccess;
  tsr_cuda_launch(epilogue_kernel, grid_for(rows * cols), kThreads, 0, stream, acc, rows, cols,
                  col_scale, bias, bias_dtype, out, out_dtype);
  return cudaGetLastError();
}

cudaError_t launch_convert(const void* src, tsr_dtype src_dtype, void* dst, tsr_dtype dst_dtype,
                           int64_t count, cudaStream_t stream) {
  if (count < 1) return cudaSuccess;
  tsr_cuda_launch(convert_kernel, grid_for(count), kThreads, 0, stream, src, src_dtype, dst,
                  dst_dtype, count);
  return cudaGetLastError();
}

cudaError_t launch_fp8_quantize(const void* x, tsr_dtype x_dtype, int64_t count, unsigned char* q,
                                unsigned int* amax, float* scale, cudaStream_t stream) {
  if (count < 1) return cudaSuccess;
  cudaError_t rc = cudaMemsetAsync(amax, 0, sizeof(unsigned int), stream);
  if (rc != cudaSuccess) return rc;
  tsr_cuda_launch(amax_kernel, grid_for(count), kThreads, 0, stream, x, x_dtype, count, amax);
  tsr_cuda_launch(quantize_kernel, grid_for(count), kThreads, 0, stream, x, x_dtype, count, q, amax,
                  scale);
  return cudaGetLastError();
}

}  // namespace tsr::cuda
