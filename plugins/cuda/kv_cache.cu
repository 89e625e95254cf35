// KV cache write/read kernels of the CUDA plugin, on the CPU plugin's block layout
// (plugins/cpu/kv_layout.h): block b of a layer's buffer = K[heads][block_size][head_dim]
// then V[heads][block_size][head_dim], elements of the cache dtype; slot s lives in block
// s / block_size at offset s % block_size.
//
// Design: one warp per (token, head) moves that head's key row and value row (contiguous
// head_dim elements on both sides), lanes striding over the packs of both rows, so a warp
// is busy even for short heads. Packs are 16 bytes on the wider side when head_dim and the
// bases allow it; otherwise a per-element kernel with run-time dtypes takes over (rare: odd
// head_dim or misaligned tensors), which keeps the number of instantiations small.
// Conversions go through f32 with round-to-nearest-even, as the CPU plugin's; equal dtypes
// copy bits. Slots come from device memory and cannot be checked on the host: write skips a
// slot outside [0, num_slots) (negative is padding by contract), read stores zeros for one.
#include <algorithm>
#include <type_traits>

#include "cuda_dtype.cuh"
#include "elementwise_kernels.h"

namespace tsr::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int64_t kWarpsPerBlock = kThreads / 32;
constexpr int64_t kMaxGrid = int64_t{1} << 20;

template <class T, int N>
struct alignas(sizeof(T) * N >= 16 ? 16 : sizeof(T) * N) Pack {
  T v[N];
};

template <class To, class From>
__device__ __forceinline__ To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else {
    return from_f32<To>(to_f32(v));
  }
}

// Where a (token, head) item's rows are; key_offset is in cache elements and meaningful only
// when valid.
struct KvItem {
  int64_t token_offset;  // element offset of the item's row in key/value
  int64_t key_offset;
  bool valid;
};

__device__ __forceinline__ KvItem locate(const KvCacheArgs& args, int64_t item) {
  const int64_t t = item / args.heads;
  const int64_t h = item - t * args.heads;
  const int64_t slot = args.slots[t];
  KvItem it{item * args.head_dim, 0, slot >= 0 && slot < args.num_slots};
  if (it.valid) {
    const int64_t block = slot / args.block_size;
    const int64_t offset = slot - block * args.block_size;
    const int64_t half = args.heads * args.block_size * args.head_dim;
    it.key_offset = block * 2 * half + (h * args.block_size + offset) * args.head_dim;
  }
  return it;
}

template <class A, class C, int N, bool kWrite>
__global__ void kv_move_kernel(const KvCacheArgs args) {
  using PA = Pack<A, N>;
  using PC = Pack<C, N>;
  const int lane = threadIdx.x % 32;
  const int64_t items = args.tokens * args.heads;
  const int64_t packs = args.head_dim / N;
  const int64_t half = args.heads * args.block_size * args.head_dim;
  C* cache = static_cast<C*>(args.cache);
  for (int64_t item = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32; item < items;
       item += gridDim.x * kWarpsPerBlock) {
    const KvItem it = locate(args, item);
    if (kWrite && !it.valid) continue;
    for (int64_t j = lane; j < 2 * packs; j += 32) {
      const bool is_value = j >= packs;
      const int64_t i = is_value ? j - packs : j;
      A* tokens = static_cast<A*>(is_value ? args.value : args.key) + it.token_offset;
      C* row = cache + it.key_offset + (is_value ? half : 0);
      if constexpr (kWrite) {
        const PA in = reinterpret_cast<const PA*>(tokens)[i];
        PC out;
#pragma unroll
        for (int k = 0; k < N; ++k) out.v[k] = convert<C>(in.v[k]);
        reinterpret_cast<PC*>(row)[i] = out;
      } else {
        PA out;
        if (it.valid) {
          const PC in = reinterpret_cast<const PC*>(row)[i];
#pragma unroll
          for (int k = 0; k < N; ++k) out.v[k] = convert<A>(in.v[k]);
        } else {
#pragma unroll
          for (int k = 0; k < N; ++k) out.v[k] = from_f32<A>(0.0f);
        }
        reinterpret_cast<PA*>(tokens)[i] = out;
      }
    }
  }
}

// dst[i] = src[i] converted; bits copied when the dtypes are equal.
__device__ __forceinline__ void move_any(void* dst, tsr_dtype dst_dtype, const void* src,
                                         tsr_dtype src_dtype, int64_t i) {
  if (dst_dtype == src_dtype) {
    if (dst_dtype == TSR_DTYPE_F32) {
      static_cast<uint32_t*>(dst)[i] = static_cast<const uint32_t*>(src)[i];
    } else {
      static_cast<uint16_t*>(dst)[i] = static_cast<const uint16_t*>(src)[i];
    }
    return;
  }
  store_from_f32(dst, i, dst_dtype, load_as_f32(src, i, src_dtype));
}

// The per-element fallback: same mapping, dtypes at run time.
__global__ void kv_move_any_kernel(const KvCacheArgs args, tsr_dtype act, tsr_dtype cache_dtype,
                                   bool write) {
  const int lane = threadIdx.x % 32;
  const int64_t items = args.tokens * args.heads;
  const int64_t dim = args.head_dim;
  const int64_t half = args.heads * args.block_size * args.head_dim;
  const size_t act_size = act == TSR_DTYPE_F32 ? 4 : 2;
  const size_t cache_size = cache_dtype == TSR_DTYPE_F32 ? 4 : 2;
  auto* cache = static_cast<unsigned char*>(args.cache);
  for (int64_t item = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32; item < items;
       item += gridDim.x * kWarpsPerBlock) {
    const KvItem it = locate(args, item);
    if (write && !it.valid) continue;
    for (int64_t j = lane; j < 2 * dim; j += 32) {
      const bool is_value = j >= dim;
      const int64_t i = is_value ? j - dim : j;
      void* tokens = static_cast<unsigned char*>(is_value ? args.value : args.key) +
                     static_cast<size_t>(it.token_offset) * act_size;
      void* row = cache + static_cast<size_t>(it.key_offset + (is_value ? half : 0)) * cache_size;
      if (write) {
        move_any(row, cache_dtype, tokens, act, i);
      } else if (it.valid) {
        move_any(tokens, act, row, cache_dtype, i);
      } else {
        store_from_f32(tokens, i, act, 0.0f);
      }
    }
  }
}

template <class T>
constexpr tsr_dtype dtype_of() {
  if constexpr (std::is_same_v<T, float>) {
    return TSR_DTYPE_F32;
  } else if constexpr (std::is_same_v<T, __half>) {
    return TSR_DTYPE_F16;
  } else {
    static_assert(std::is_same_v<T, __nv_bfloat16>);
    return TSR_DTYPE_BF16;
  }
}

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

template <class A, class C, bool kWrite>
cudaError_t kv_move_typed(const KvCacheArgs& args, unsigned grid, cudaStream_t stream) {
  constexpr int kN = 16 / (sizeof(A) > sizeof(C) ? sizeof(A) : sizeof(C));
  if (args.head_dim % kN == 0 && aligned16(args.cache) && aligned16(args.key) &&
      aligned16(args.value)) {
    tsr_cuda_launch(kv_move_kernel<A, C, kN, kWrite>, grid, kThreads, 0, stream, args);
  } else {
    tsr_cuda_launch(kv_move_any_kernel, grid, kThreads, 0, stream, args, dtype_of<A>(),
                    dtype_of<C>(), kWrite);
  }
  return cudaGetLastError();
}

template <bool kWrite>
cudaError_t kv_move(tsr_dtype act, tsr_dtype cache_dtype, const KvCacheArgs& args,
                    cudaStream_t stream) {
  const int64_t items = args.tokens * args.heads;
  if (items <= 0 || args.head_dim <= 0) return cudaSuccess;
  const unsigned grid = static_cast<unsigned>(
      std::clamp<int64_t>((items + kWarpsPerBlock - 1) / kWarpsPerBlock, 1, kMaxGrid));
  cudaError_t rc = cudaErrorInvalidValue;
  switch (cache_dtype) {
    case TSR_DTYPE_F32:
      TSR_CUDA_DISPATCH_ACTIVATION(act,
                                   rc = kv_move_typed<scalar_t, float, kWrite>(args, grid, stream));
      break;
    case TSR_DTYPE_F16:
      TSR_CUDA_DISPATCH_ACTIVATION(
          act, rc = kv_move_typed<scalar_t, __half, kWrite>(args, grid, stream));
      break;
    case TSR_DTYPE_BF16:
      TSR_CUDA_DISPATCH_ACTIVATION(
          act, rc = kv_move_typed<scalar_t, __nv_bfloat16, kWrite>(args, grid, stream));
      break;
    default:
      break;
  }
  return rc;
}

}  // namespace

cudaError_t launch_kv_cache_write(tsr_dtype act_dtype, tsr_dtype cache_dtype,
                                  const KvCacheArgs& args, cudaStream_t stream) {
  return kv_move<true>(act_dtype, cache_dtype, args, stream);
}

cudaError_t launch_kv_cache_read(tsr_dtype act_dtype, tsr_dtype cache_dtype,
                                 const KvCacheArgs& args, cudaStream_t stream) {
  return kv_move<false>(act_dtype, cache_dtype, args, stream);
}

}  // namespace tsr::cuda
