// Rotary position embedding kernel of the CUDA plugin, in place on query and key.
//
// Design: one thread per rotated pair (i) of a token, for a group of kHeadsPerThread
// consecutive heads of the concatenated [query heads | key heads] list, so the sine and
// cosine of the pair's angle are computed once per group rather than once per head (they
// are evaluated in double, which is slow on GPUs with few FP64 units). Adjacent threads take
// adjacent pairs, so loads and stores of a head are coalesced. Tokens run over grid.y (with a
// stride loop past 65535).
//
// Numerics match the CPU plugin: inv_freq comes from the host (the CPU's own float pow), the
// angle is float(position) * inv_freq in f32, sin/cos of that f32 angle are computed in
// double and rounded to f32, and the rotation uses explicitly rounded f32 multiplies and adds
// (__fmul_rn and friends) so nvcc cannot contract them into FMAs the CPU does not use.
#include <algorithm>

#include "cuda_dtype.cuh"
#include "elementwise_kernels.h"

namespace tsr::cuda {
namespace {

constexpr int kHeadsPerThread = 4;
constexpr int kThreads = 128;
constexpr int64_t kMaxGridX = int64_t{1} << 20;
constexpr int64_t kMaxGridY = 65535;

template <class T>
__global__ void rope_kernel(const __grid_constant__ RopeArgs args) {
  const int half = args.rotary_dim / 2;
  const int64_t heads = args.query_heads + args.key_heads;
  const int64_t groups = (heads + kHeadsPerThread - 1) / kHeadsPerThread;
  const int64_t items = groups * half;
  T* query = static_cast<T*>(args.query);
  T* key = static_cast<T*>(args.key);
  for (int64_t t = blockIdx.y; t < args.tokens; t += gridDim.y) {
    const float position = static_cast<float>(args.positions[t]);
    const float* inv_freq =
        args.positions[t] >= args.long_from ? args.inv_freq + half : args.inv_freq;
    for (int64_t item = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; item < items;
         item += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const int i = static_cast<int>(item % half);
      const int64_t first = item / half * kHeadsPerThread;
      const int64_t last = first + kHeadsPerThread < heads ? first + kHeadsPerThread : heads;
      const float angle = __fmul_rn(position, inv_freq[i]);
      double s = 0.0;
      double c = 0.0;
      sincos(static_cast<double>(angle), &s, &c);
      const float sin_v = __fmul_rn(static_cast<float>(s), args.attention_factor);
      const float cos_v = __fmul_rn(static_cast<float>(c), args.attention_factor);
      const int64_t ia = args.neox ? i : 2 * i;
      const int64_t ib = args.neox ? i + half : 2 * i + 1;
      for (int64_t h = first; h < last; ++h) {
        T* row = h < args.query_heads
                     ? query + (t * args.query_heads + h) * args.head_dim
                     : key + (t * args.key_heads + (h - args.query_heads)) * args.head_dim;
        const float a = to_f32(row[ia]);
        const float b = to_f32(row[ib]);
        row[ia] = from_f32<T>(__fsub_rn(__fmul_rn(a, cos_v), __fmul_rn(b, sin_v)));
        row[ib] = from_f32<T>(__fadd_rn(__fmul_rn(b, cos_v), __fmul_rn(a, sin_v)));
      }
    }
  }
}

}  // namespace

cudaError_t launch_rope(tsr_dtype dtype, const RopeArgs& args, cudaStream_t stream) {
  const int64_t half = args.rotary_dim / 2;
  const int64_t heads = args.query_heads + args.key_heads;
  if (half > kRopeMaxPairs) return cudaErrorInvalidValue;
  if (args.tokens <= 0 || half <= 0 || heads <= 0) return cudaSuccess;
  const int64_t items = (heads + kHeadsPerThread - 1) / kHeadsPerThread * half;
  const dim3 grid(static_cast<unsigned>(std::min((items + kThreads - 1) / kThreads, kMaxGridX)),
                  static_cast<unsigned>(std::min(args.tokens, kMaxGridY)));
  cudaError_t rc = cudaErrorInvalidValue;
  TSR_CUDA_DISPATCH_ACTIVATION(dtype, {
    tsr_cuda_launch(rope_kernel<scalar_t>, grid, kThreads, 0, stream, args);
    rc = cudaGetLastError();
  });
  return rc;
}

}  // namespace tsr::cuda
