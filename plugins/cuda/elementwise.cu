// Row-wise and elementwise kernels of the CUDA plugin: row gather (embedding, gather_rows),
// rms_norm (optionally fused with the residual add), silu_mul, gelu_tanh_mul and add.
//
// Design: every kernel moves 16-byte packs when the widths and base addresses allow it and
// falls back to narrower packs (gather) or single elements otherwise; the host-side launch
// function picks the variant. Grids depend only on shapes; rows beyond the grid limits are
// covered by grid-stride loops. Math follows the CPU plugin operation for operation in f32
// (loads widen exactly, stores round to nearest even), so results match it bit for bit
// except for the order of rms_norm's sum of squares (a tree here, SIMD lanes there) and
// expf's last-ulp differences in silu.
#include <algorithm>

#include "cuda_dtype.cuh"
#include "elementwise_kernels.h"

namespace tsr::cuda {
namespace {

constexpr int64_t kMaxGridX = int64_t{1} << 20;  // grid-stride loops cover more work
constexpr int64_t kMaxGridY = 65535;

unsigned grid_x(int64_t work, int64_t per_block) {
  const int64_t blocks = (work + per_block - 1) / per_block;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, kMaxGridX));
}

unsigned grid_y(int64_t rows) {
  return static_cast<unsigned>(std::clamp<int64_t>(rows, 1, kMaxGridY));
}

int threads_for(int64_t per_row, int max_threads) {
  const int64_t warps = (per_row + 31) / 32;
  return static_cast<int>(std::clamp<int64_t>(warps * 32, 32, max_threads));
}

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// N elements of T loaded or stored as one access (16 bytes at most per instruction).
template <class T, int N>
struct alignas(sizeof(T) * N >= 16 ? 16 : sizeof(T) * N) Pack {
  T v[N];
};

template <class T>
constexpr int kPack = 16 / sizeof(T);

__device__ __forceinline__ int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ int64_t grid_threads() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// ---- row gather ------------------------------------------------------------------------

// V is the copy unit (uint4 ... unsigned char); row_units = row bytes / sizeof(V).
template <class V>
__global__ void gather_rows_kernel(const V* __restrict__ src, int64_t src_rows, int64_t row_units,
                                   const int32_t* __restrict__ indices, int64_t count,
                                   V* __restrict__ out) {
  for (int64_t r = blockIdx.y; r < count; r += gridDim.y) {
    const int32_t id = indices[r];
    const bool valid = id >= 0 && id < src_rows;
    const V* in = src + (valid ? static_cast<int64_t>(id) : 0) * row_units;
    V* dst = out + r * row_units;
    for (int64_t i = global_thread(); i < row_units; i += grid_threads()) {
      dst[i] = valid ? in[i] : V{};
    }
  }
}

template <class V>
cudaError_t gather_rows_as(const void* src, int64_t src_rows, int64_t row_bytes,
                           const int32_t* indices, int64_t count, void* out, cudaStream_t stream) {
  const int64_t units = row_bytes / static_cast<int64_t>(sizeof(V));
  const int threads = threads_for(units, 256);
  const dim3 grid(grid_x(units, threads), grid_y(count));
  tsr_cuda_launch(gather_rows_kernel<V>, grid, threads, 0, stream, static_cast<const V*>(src),
                  src_rows, units, indices, count, static_cast<V*>(out));
  return cudaGetLastError();
}

// ---- rms_norm --------------------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Every thread of the block gets the same total (each warp reduces the partials itself, in
// the same order). All threads of the block must call it.
__device__ __forceinline__ float block_sum(float v, float* partial) {
  v = warp_sum(v);
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  __syncthreads();  // the previous row's readers of `partial` are done
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / 32;
  return warp_sum(lane < warps ? partial[lane] : 0.0f);
}

// One row per warp (warp_rows) or per block. Pass 1 forms (and with a residual, rounds and
// stores) the values to normalise and sums their squares; pass 2 reads them back (a thread
// reads only packs it wrote itself, so its own stores are visible) and scales. The residual
// pointer is deliberately not __restrict__: it is written then read again.
template <class T, class W, int N>
__global__ void rms_norm_kernel(const T* __restrict__ x, const W* __restrict__ weight, T* residual,
                                T* __restrict__ out, int64_t rows, int64_t hidden, float eps,
                                bool warp_rows) {
  __shared__ float partial[32];
  using P = Pack<T, N>;
  using PW = Pack<W, N>;
  const int group = warp_rows ? 32 : static_cast<int>(blockDim.x);
  const int64_t groups_per_block = blockDim.x / group;
  const int tid = threadIdx.x % group;
  const int64_t packs = hidden / N;
  const PW* w = reinterpret_cast<const PW*>(weight);
  for (int64_t r = blockIdx.x * groups_per_block + threadIdx.x / group; r < rows;
       r += gridDim.x * groups_per_block) {
    const P* xr = reinterpret_cast<const P*>(x + r * hidden);
    P* rr = residual != nullptr ? reinterpret_cast<P*>(residual + r * hidden) : nullptr;
    P* outr = reinterpret_cast<P*>(out + r * hidden);
    float acc = 0.0f;
    for (int64_t i = tid; i < packs; i += group) {
      P v = xr[i];
      if (rr != nullptr) {
        P s = rr[i];
#pragma unroll
        for (int k = 0; k < N; ++k) s.v[k] = from_f32<T>(to_f32(s.v[k]) + to_f32(v.v[k]));
        rr[i] = s;
        v = s;
      }
#pragma unroll
      for (int k = 0; k < N; ++k) {
        const float f = to_f32(v.v[k]);
        acc += f * f;
      }
    }
    const float total = warp_rows ? warp_sum(acc) : block_sum(acc, partial);
    const float inv = 1.0f / sqrtf(total / static_cast<float>(hidden) + eps);
    const P* src = rr != nullptr ? rr : xr;
    for (int64_t i = tid; i < packs; i += group) {
      const P v = src[i];
      const PW wv = w[i];
      P o;
#pragma unroll
      for (int k = 0; k < N; ++k) o.v[k] = from_f32<T>(to_f32(v.v[k]) * inv * to_f32(wv.v[k]));
      outr[i] = o;
    }
  }
}

template <class T, class W>
cudaError_t rms_norm_typed(const RmsNormArgs& a, cudaStream_t stream) {
  constexpr int kN = kPack<T>;
  const bool vector = a.hidden % kN == 0 && aligned16(a.x) && aligned16(a.weight) &&
                      aligned16(a.out) && (a.residual == nullptr || aligned16(a.residual));
  const int64_t packs = vector ? a.hidden / kN : a.hidden;
  // Short rows (per-head norms, small models) get a warp each, four rows per block.
  const bool warp_rows = packs <= 64;
  const int threads = warp_rows ? 128 : threads_for(packs, 512);
  const unsigned grid = grid_x(a.rows, warp_rows ? 4 : 1);
  const auto* x = static_cast<const T*>(a.x);
  const auto* w = static_cast<const W*>(a.weight);
  auto* res = static_cast<T*>(a.residual);
  auto* out = static_cast<T*>(a.out);
  if (vector) {
    tsr_cuda_launch(rms_norm_kernel<T, W, kN>, grid, threads, 0, stream, x, w, res, out, a.rows,
                    a.hidden, a.eps, warp_rows);
  } else {
    tsr_cuda_launch(rms_norm_kernel<T, W, 1>, grid, threads, 0, stream, x, w, res, out, a.rows,
                    a.hidden, a.eps, warp_rows);
  }
  return cudaGetLastError();
}

// ---- silu_mul, gelu_tanh_mul -----------------------------------------------------------

// The gate activations of the gated MLPs: SwiGLU's silu and GeGLU's tanh-approximated gelu.
struct SiluActivation {
  __device__ static float apply(float g) { return g / (1.0f + expf(-g)); }
};
struct GeluTanhActivation {
  __device__ static float apply(float g) {
    // 0.5 g (1 + tanh u) written as g / (1 + exp(-2u)): no cancellation near tanh u = -1,
    // where the first form loses all relative precision (gates below about -5).
    const float u = 0.7978845608028654f * (g + 0.044715f * g * g * g);
    return g / (1.0f + expf(-2.0f * u));
  }
};

template <class Act, class T, int N>
__global__ void gated_activation_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t rows,
                                        int64_t inter) {
  using P = Pack<T, N>;
  const int64_t packs = inter / N;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const P* gate = reinterpret_cast<const P*>(x + r * 2 * inter);
    const P* up = reinterpret_cast<const P*>(x + r * 2 * inter + inter);
    P* dst = reinterpret_cast<P*>(out + r * inter);
    for (int64_t i = global_thread(); i < packs; i += grid_threads()) {
      const P g = gate[i];
      const P u = up[i];
      P o;
#pragma unroll
      for (int k = 0; k < N; ++k) {
        o.v[k] = from_f32<T>(Act::apply(to_f32(g.v[k])) * to_f32(u.v[k]));
      }
      dst[i] = o;
    }
  }
}

template <class Act, class T>
cudaError_t gated_activation_typed(const void* x, void* out, int64_t rows, int64_t inter,
                                   cudaStream_t stream) {
  constexpr int kN = kPack<T>;
  const bool vector = inter % kN == 0 && aligned16(x) && aligned16(out);
  const int64_t packs = vector ? inter / kN : inter;
  const int threads = threads_for(packs, 256);
  const dim3 grid(grid_x(packs, threads), grid_y(rows));
  if (vector) {
    tsr_cuda_launch(gated_activation_kernel<Act, T, kN>, grid, threads, 0, stream,
                    static_cast<const T*>(x), static_cast<T*>(out), rows, inter);
  } else {
    tsr_cuda_launch(gated_activation_kernel<Act, T, 1>, grid, threads, 0, stream,
                    static_cast<const T*>(x), static_cast<T*>(out), rows, inter);
  }
  return cudaGetLastError();
}

// ---- add -------------------------------------------------------------------------------

// out may be exactly a or b: every element is read before the same thread writes it, so
// no pointer is __restrict__.
template <class T, int N>
__global__ void add_kernel(const T* a, const T* b, T* out, int64_t n) {
  using P = Pack<T, N>;
  const int64_t packs = n / N;
  const P* pa = reinterpret_cast<const P*>(a);
  const P* pb = reinterpret_cast<const P*>(b);
  P* po = reinterpret_cast<P*>(out);
  for (int64_t i = global_thread(); i < packs; i += grid_threads()) {
    const P va = pa[i];
    const P vb = pb[i];
    P o;
#pragma unroll
    for (int k = 0; k < N; ++k) o.v[k] = from_f32<T>(to_f32(va.v[k]) + to_f32(vb.v[k]));
    po[i] = o;
  }
  for (int64_t i = packs * N + global_thread(); i < n; i += grid_threads()) {
    out[i] = from_f32<T>(to_f32(a[i]) + to_f32(b[i]));
  }
}

template <class T>
cudaError_t add_typed(const void* a, const void* b, void* out, int64_t n, cudaStream_t stream) {
  constexpr int kN = kPack<T>;
  constexpr int kThreads = 256;
  const auto* ta = static_cast<const T*>(a);
  const auto* tb = static_cast<const T*>(b);
  auto* to = static_cast<T*>(out);
  if (aligned16(a) && aligned16(b) && aligned16(out)) {
    tsr_cuda_launch(add_kernel<T, kN>, grid_x(std::max<int64_t>(n / kN, 1), kThreads), kThreads, 0,
                    stream, ta, tb, to, n);
  } else {
    tsr_cuda_launch(add_kernel<T, 1>, grid_x(n, kThreads), kThreads, 0, stream, ta, tb, to, n);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_gather_rows(const void* src, int64_t src_rows, int64_t row_bytes,
                               const int32_t* indices, int64_t count, void* out,
                               cudaStream_t stream) {
  if (count <= 0 || row_bytes <= 0) return cudaSuccess;
  // The widest unit that divides the row and both bases.
  const uintptr_t bits = static_cast<uintptr_t>(row_bytes) | reinterpret_cast<uintptr_t>(src) |
                         reinterpret_cast<uintptr_t>(out);
  if (bits % 16 == 0)
    return gather_rows_as<uint4>(src, src_rows, row_bytes, indices, count, out, stream);
  if (bits % 8 == 0)
    return gather_rows_as<uint2>(src, src_rows, row_bytes, indices, count, out, stream);
  if (bits % 4 == 0) {
    return gather_rows_as<unsigned int>(src, src_rows, row_bytes, indices, count, out, stream);
  }
  if (bits % 2 == 0) {
    return gather_rows_as<unsigned short>(src, src_rows, row_bytes, indices, count, out, stream);
  }
  return gather_rows_as<unsigned char>(src, src_rows, row_bytes, indices, count, out, stream);
}

cudaError_t launch_rms_norm(const RmsNormArgs& args, cudaStream_t stream) {
  if (args.rows <= 0 || args.hidden <= 0) return cudaSuccess;
  const bool f32_weight = args.weight_dtype == TSR_DTYPE_F32;
  switch (args.dtype) {
    case TSR_DTYPE_F32:
      return rms_norm_typed<float, float>(args, stream);
    case TSR_DTYPE_F16:
      return f32_weight ? rms_norm_typed<__half, float>(args, stream)
                        : rms_norm_typed<__half, __half>(args, stream);
    case TSR_DTYPE_BF16:
      return f32_weight ? rms_norm_typed<__nv_bfloat16, float>(args, stream)
                        : rms_norm_typed<__nv_bfloat16, __nv_bfloat16>(args, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

cudaError_t launch_silu_mul(tsr_dtype dtype, const void* x, void* out, int64_t rows, int64_t inter,
                            cudaStream_t stream) {
  if (rows <= 0 || inter <= 0) return cudaSuccess;
  cudaError_t rc = cudaErrorInvalidValue;
  TSR_CUDA_DISPATCH_ACTIVATION(
      dtype, rc = gated_activation_typed<SiluActivation, scalar_t>(x, out, rows, inter, stream));
  return rc;
}

cudaError_t launch_gelu_tanh_mul(tsr_dtype dtype, const void* x, void* out, int64_t rows,
                                 int64_t inter, cudaStream_t stream) {
  if (rows <= 0 || inter <= 0) return cudaSuccess;
  cudaError_t rc = cudaErrorInvalidValue;
  TSR_CUDA_DISPATCH_ACTIVATION(dtype, rc = gated_activation_typed<GeluTanhActivation, scalar_t>(
                                          x, out, rows, inter, stream));
  return rc;
}

cudaError_t launch_add(tsr_dtype dtype, const void* a, const void* b, void* out, int64_t n,
                       cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  cudaError_t rc = cudaErrorInvalidValue;
  TSR_CUDA_DISPATCH_ACTIVATION(dtype, rc = add_typed<scalar_t>(a, b, out, n, stream));
  return rc;
}

}  // namespace tsr::cuda
