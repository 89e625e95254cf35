// The linear op's own matmul kernels (see linear_kernels.h), written by hand because no
// library we may depend on multiplies by int8/int4/fp8 weights with per-group f32 scales
// while keeping f16/bf16/f32 activations unquantized.
//
// quant_gemv_kernel (decode, M <= 8): memory-bound, so the design goal is one pass over
// the weight bytes at full bandwidth. A block of 8 warps owns 16 consecutive weight rows
// (2 per warp). K is walked in chunks of 1024 elements: each lane first issues 16-byte
// streaming loads of its slice of both rows (16 int8/fp8 or 32 int4 elements per load) and
// their group scales, then the block stages the chunk of all M activation rows into shared
// memory as f32, then each lane dequantizes in registers (byte_perm "magic number" int->f32
// conversion: two instructions per element) and accumulates f32 dot products. The shared
// activation chunk is stored permuted ([step][float4 j][lane][4]) so that a lane's float4
// reads are consecutive across the warp (no bank conflicts). A warp-shuffle reduction ends
// each row; lane 0 applies the per-row scale and bias and stores. Rows are padded to 16
// bytes at prepack with zero-valued codes and activations beyond K are staged as zeros, so
// no lane needs a tail loop.
// The asymmetric kinds (INT4/INT8_GROUP_ASYM, w = u * scale + min) dequantize each element
// with one fma before the dot products instead of scaling a load's partial sum: the min
// would otherwise need a second, per-row sum of x for every group. Their padding codes are
// 0 and decode to the last group's min, which meets the zero activations staged past K.
//
// tiled_gemm_kernel (prefill, and dense weights when cuBLASLt is missing): a plain 64x64x32
// shared-memory tiled SIMT GEMM with 4x4 register blocking; W tiles are dequantized to f32
// while staged. Correctness first: tensor-core prefill of quantized weights is future work.
//
// Numerics: integer codes and e4m3 values convert to f32 exactly; every product and sum is
// f32, so results equal dequantize-then-matmul in f32 up to summation order (the asym kinds
// round u * scale + min once, in the fma, as an f32 dequantization would).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "cuda_dtype.cuh"
#include "linear_kernels.h"

namespace tsr::cuda {
namespace {

constexpr int kGemvThreads = 256;
constexpr int kGemvWarps = kGemvThreads / 32;
constexpr int kGemvRowsPerWarp = 2;
constexpr int kGemvChunk = 1024;  // K elements staged per round

constexpr int kTileM = 64;
constexpr int kTileN = 64;
constexpr int kTileK = 32;
constexpr int kTileThreads = 256;
constexpr int kMaxGridY = 65535;

// Weights are read once per call: do not keep them in L1.
__device__ __forceinline__ uint4 load_stream(const unsigned char* p) {
  return __ldcs(reinterpret_cast<const uint4*>(p));
}

// f32 of the e4m3 code in each byte of `word` (little-endian byte order).
__device__ __forceinline__ void fp8x4_to_f32(uint32_t word, float* out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  // Native cvt.rn.f16x2.e4m3x2; e4m3 -> f16 is exact, NaN stays NaN.
  const __half2_raw lo =
      __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(word & 0xffffu), __NV_E4M3);
  const __half2_raw hi =
      __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(word >> 16), __NV_E4M3);
  const float2 a = __half22float2(__half2(lo));
  const float2 b = __half22float2(__half2(hi));
  out[0] = a.x;
  out[1] = a.y;
  out[2] = b.x;
  out[3] = b.y;
#else
  // e4m3 bits shifted into an f16 (sign to bit 15, exponent and mantissa to bits 7..13) are
  // the value times 2^-8 (f16's exponent bias is 8 more than e4m3's), normals and
  // subnormals alike; x256 in f16 is exact. 0x7f/0xff (NaN in e4m3fn) is patched after.
  const uint32_t t0 = __byte_perm(word, 0u, 0x1404u);  // bytes 0, 1 -> bits 8..15, 24..31
  const uint32_t t1 = __byte_perm(word, 0u, 0x3424u);  // bytes 2, 3
  const uint32_t h0 = ((t0 >> 1) & 0x3f803f80u) | (t0 & 0x80008000u);
  const uint32_t h1 = ((t1 >> 1) & 0x3f803f80u) | (t1 & 0x80008000u);
  const __half2 k256 = __float2half2_rn(256.0f);
  const float2 a = __half22float2(__hmul2(*reinterpret_cast<const __half2*>(&h0), k256));
  const float2 b = __half22float2(__hmul2(*reinterpret_cast<const __half2*>(&h1), k256));
  out[0] = a.x;
  out[1] = a.y;
  out[2] = b.x;
  out[3] = b.y;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if (((word >> (8 * i)) & 0x7fu) == 0x7fu) out[i] = __int_as_float(0x7fc00000);
  }
#endif
}

__device__ __forceinline__ float fp8_to_f32(unsigned char code) {
  float v[4];
  fp8x4_to_f32(code, v);
  return v[0];
}

template <WeightKind KIND>
inline constexpr bool kIsInt4 = KIND == WeightKind::kInt4 || KIND == WeightKind::kInt4Asym;
// (linear_kernels.h's is_asym_kind is a host function to nvcc.)
template <WeightKind KIND>
inline constexpr bool kIsAsym = KIND == WeightKind::kInt4Asym || KIND == WeightKind::kInt8Asym;

// Elements per 16-byte load.
template <WeightKind KIND>
struct Elems {
  static constexpr int kValue = kIsInt4<KIND> ? 32 : 16;
};

// The E unscaled values (codes as f32) in one 16-byte load of a quantized row.
template <WeightKind KIND>
__device__ __forceinline__ void decode16(const uint4& v, float* w) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
  if constexpr (KIND == WeightKind::kInt8) {
    // (q ^ 0x80) = q + 128 as an unsigned byte; placed in the mantissa of 2^23 it reads as
    // 2^23 + q + 128, exactly.
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint32_t u = words[i] ^ 0x80808080u;
      w[4 * i + 0] = __int_as_float(__byte_perm(u, 0x4b000000u, 0x7440u)) - 8388736.0f;
      w[4 * i + 1] = __int_as_float(__byte_perm(u, 0x4b000000u, 0x7441u)) - 8388736.0f;
      w[4 * i + 2] = __int_as_float(__byte_perm(u, 0x4b000000u, 0x7442u)) - 8388736.0f;
      w[4 * i + 3] = __int_as_float(__byte_perm(u, 0x4b000000u, 0x7443u)) - 8388736.0f;
    }
  } else if constexpr (KIND == WeightKind::kInt8Asym) {
    // Unsigned codes: 2^23 + u, exactly.
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      w[4 * i + 0] = __int_as_float(__byte_perm(words[i], 0x4b000000u, 0x7440u)) - 8388608.0f;
      w[4 * i + 1] = __int_as_float(__byte_perm(words[i], 0x4b000000u, 0x7441u)) - 8388608.0f;
      w[4 * i + 2] = __int_as_float(__byte_perm(words[i], 0x4b000000u, 0x7442u)) - 8388608.0f;
      w[4 * i + 3] = __int_as_float(__byte_perm(words[i], 0x4b000000u, 0x7443u)) - 8388608.0f;
    }
  } else if constexpr (kIsInt4<KIND>) {
    // Byte b holds element 2b in its low nibble and 2b + 1 in its high nibble. Symmetric
    // codes are u - 8 (subtract 2^23 + 8), asymmetric ones u (subtract 2^23).
    constexpr float kBias = KIND == WeightKind::kInt4 ? 8388616.0f : 8388608.0f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint32_t lo = words[i] & 0x0f0f0f0fu;
      const uint32_t hi = (words[i] >> 4) & 0x0f0f0f0fu;
      w[8 * i + 0] = __int_as_float(__byte_perm(lo, 0x4b000000u, 0x7440u)) - kBias;
      w[8 * i + 1] = __int_as_float(__byte_perm(hi, 0x4b000000u, 0x7440u)) - kBias;
      w[8 * i + 2] = __int_as_float(__byte_perm(lo, 0x4b000000u, 0x7441u)) - kBias;
      w[8 * i + 3] = __int_as_float(__byte_perm(hi, 0x4b000000u, 0x7441u)) - kBias;
      w[8 * i + 4] = __int_as_float(__byte_perm(lo, 0x4b000000u, 0x7442u)) - kBias;
      w[8 * i + 5] = __int_as_float(__byte_perm(hi, 0x4b000000u, 0x7442u)) - kBias;
      w[8 * i + 6] = __int_as_float(__byte_perm(lo, 0x4b000000u, 0x7443u)) - kBias;
      w[8 * i + 7] = __int_as_float(__byte_perm(hi, 0x4b000000u, 0x7443u)) - kBias;
    }
  } else {
#pragma unroll
    for (int i = 0; i < 4; ++i) fp8x4_to_f32(words[i], w + 4 * i);
  }
}

// MT: activation rows staged (io.m rounded up to 1, 2, 4 or 8; extra rows are zeros).
template <WeightKind KIND, int MT>
__global__ void __launch_bounds__(kGemvThreads)
    quant_gemv_kernel(const WeightView w, const LinearIo io) {
  constexpr int E = Elems<KIND>::kValue;
  constexpr int kPerByte = kIsInt4<KIND> ? 2 : 1;
  // Asymmetric codes are dequantized per element (w = u * scale + min) before the dot
  // products, so their scale never multiplies a partial sum and groups of one row (group
  // == K) take the same path as any other group.
  constexpr bool kAsym = kIsAsym<KIND>;
  constexpr int S = kGemvChunk / (32 * E);  // loads per lane per row per chunk
  constexpr int R = kGemvRowsPerWarp;
  constexpr int kVec = E / 4;  // float4 reads of activations per load
  static_assert(S >= 1 && kGemvChunk % (32 * E) == 0, "chunk must be whole warp loads");
  __shared__ float4 xs[MT * kGemvChunk / 4];

  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * kGemvWarps + warp) * R;
  // Positions along K fit 32 bits (K < 2^31, padding adds < 32), which keeps the group
  // arithmetic in cheap 32-bit divisions.
  const uint32_t kp = static_cast<uint32_t>(w.ld * kPerByte);  // K padded to whole loads
  const uint32_t k = static_cast<uint32_t>(w.k);
  const uint32_t group = static_cast<uint32_t>(w.group);
  const uint32_t last_group = static_cast<uint32_t>(w.groups - 1);
  const bool per_row = !kAsym && w.groups == 1;
  const bool aligned = !per_row && group % E == 0;  // one scale per 16-byte load

  float acc[MT][R];
#pragma unroll
  for (int m = 0; m < MT; ++m) {
#pragma unroll
    for (int r = 0; r < R; ++r) acc[m][r] = 0.0f;
  }

  for (uint32_t c0 = 0; c0 < kp; c0 += kGemvChunk) {
    // Weight loads first: they do not depend on shared memory, so their latency overlaps
    // the barrier and the staging below.
    uint4 wv[R][S];
    float sc[R][S];
    float mn[R][S];  // asym only
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int64_t row = row0 + r;
#pragma unroll
      for (int s = 0; s < S; ++s) {
        const uint32_t k0 = c0 + s * 32 * E + lane * E;
        const bool live = row < w.n && k0 < kp;
        wv[r][s] = live ? load_stream(w.data + row * w.ld + k0 / kPerByte) : make_uint4(0, 0, 0, 0);
        const int64_t at = row * w.groups + min(k0 / group, last_group);
        sc[r][s] = live && aligned ? __ldg(w.scales + at) : 1.0f;
        mn[r][s] = kAsym && live && aligned ? __ldg(w.mins + at) : 0.0f;
      }
    }
    __syncthreads();  // every warp is done reading the previous chunk
    float* xf = reinterpret_cast<float*>(xs);
    for (int i = static_cast<int>(threadIdx.x); i < MT * kGemvChunk; i += kGemvThreads) {
      const int m = i / kGemvChunk;
      const int kc = i % kGemvChunk;
      const uint32_t kx = c0 + kc;
      const float v = m < io.m && kx < k ? load_as_f32(io.x, m * w.k + kx, io.x_dtype) : 0.0f;
      const int s = kc / (32 * E);
      const int rest = kc % (32 * E);
      const int owner = rest / E;
      const int j = (rest % E) / 4;
      xf[m * kGemvChunk + ((s * kVec + j) * 32 + owner) * 4 + rest % 4] = v;
    }
    __syncthreads();

#pragma unroll
    for (int s = 0; s < S; ++s) {
      const uint32_t k0 = c0 + s * 32 * E + lane * E;
      if (k0 >= kp) continue;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int64_t row = row0 + r;
        if (row >= w.n) continue;
        float wf[E];
        decode16<KIND>(wv[r][s], wf);
        if (kAsym && aligned) {
#pragma unroll
          for (int e = 0; e < E; ++e) wf[e] = fmaf(wf[e], sc[r][s], mn[r][s]);
        } else if (kAsym) {
          // As below, with the min, and the pair reloaded only where a group starts (GGUF
          // Q2_K's groups of 16 give two per int4 load). Padding past K clamps to the last
          // group, whose min meets zero activations.
          const float* row_scales = w.scales + row * w.groups;
          const float* row_mins = w.mins + row * w.groups;
          uint32_t g = k0 / group;
          uint32_t next = (g + 1) * group;
          float scale = __ldg(row_scales + min(g, last_group));
          float lowest = __ldg(row_mins + min(g, last_group));
#pragma unroll
          for (int e = 0; e < E; ++e) {
            if (k0 + e >= next) {
              ++g;
              next += group;
              scale = __ldg(row_scales + min(g, last_group));
              lowest = __ldg(row_mins + min(g, last_group));
            }
            wf[e] = fmaf(wf[e], scale, lowest);
          }
        } else if (!per_row && !aligned) {
          // Groups smaller than (or straddling) a load: a scale per element, walking the
          // group index forward instead of dividing per element.
          const float* row_scales = w.scales + row * w.groups;
          uint32_t g = k0 / group;
          uint32_t next = (g + 1) * group;
#pragma unroll
          for (int e = 0; e < E; ++e) {
            if (k0 + e >= next) {
              ++g;
              next += group;
            }
            wf[e] *= __ldg(row_scales + min(g, last_group));
          }
        }
#pragma unroll
        for (int m = 0; m < MT; ++m) {
          const float4* xr = xs + m * (kGemvChunk / 4) + s * kVec * 32 + lane;
          float d = 0.0f;
#pragma unroll
          for (int j = 0; j < kVec; ++j) {
            const float4 xv = xr[j * 32];
            d = fmaf(wf[4 * j + 0], xv.x, d);
            d = fmaf(wf[4 * j + 1], xv.y, d);
            d = fmaf(wf[4 * j + 2], xv.z, d);
            d = fmaf(wf[4 * j + 3], xv.w, d);
          }
          acc[m][r] = kAsym ? acc[m][r] + d : fmaf(d, sc[r][s], acc[m][r]);
        }
      }
    }
  }

  // Every lane reaches the reduction (no early exit above), so full masks are valid.
#pragma unroll
  for (int m = 0; m < MT; ++m) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      float v = acc[m][r];
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
      acc[m][r] = v;
    }
  }
  if (lane != 0) return;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int64_t row = row0 + r;
    if (row >= w.n) continue;
    const float scale = per_row ? __ldg(w.scales + row) : 1.0f;
    const float bias = io.bias != nullptr ? load_as_f32(io.bias, row, io.x_dtype) : 0.0f;
#pragma unroll
    for (int m = 0; m < MT; ++m) {
      if (m < io.m)
        store_from_f32(io.out, m * w.n + row, io.out_dtype, fmaf(acc[m][r], scale, bias));
    }
  }
}

// W[row, k] in f32 (dequantized), for 0 <= row < w.n, 0 <= k < w.k.
template <WeightKind KIND>
__device__ __forceinline__ float load_weight(const WeightView& w, int64_t row, int64_t k) {
  const unsigned char* p = w.data + row * w.ld;
  if constexpr (KIND == WeightKind::kF32) {
    return reinterpret_cast<const float*>(p)[k];
  } else if constexpr (KIND == WeightKind::kF16) {
    return __half2float(reinterpret_cast<const __half*>(p)[k]);
  } else if constexpr (KIND == WeightKind::kBF16) {
    return __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(p)[k]);
  } else {
    const int64_t at = row * w.groups + k / w.group;
    const float scale = __ldg(w.scales + at);
    if constexpr (KIND == WeightKind::kInt4Asym) {
      const unsigned byte = p[k >> 1];
      const unsigned u = (k & 1) != 0 ? byte >> 4 : byte & 0xfu;
      return fmaf(static_cast<float>(u), scale, __ldg(w.mins + at));
    } else if constexpr (KIND == WeightKind::kInt8Asym) {
      return fmaf(static_cast<float>(p[k]), scale, __ldg(w.mins + at));
    } else if constexpr (KIND == WeightKind::kInt8) {
      return static_cast<float>(static_cast<signed char>(p[k])) * scale;
    } else if constexpr (KIND == WeightKind::kInt4) {
      const unsigned byte = p[k >> 1];
      const int u = static_cast<int>((k & 1) != 0 ? byte >> 4 : byte & 0xfu);
      return static_cast<float>(u - 8) * scale;
    } else {
      return fp8_to_f32(p[k]) * scale;
    }
  }
}

template <WeightKind KIND>
__global__ void __launch_bounds__(kTileThreads)
    tiled_gemm_kernel(const WeightView w, const LinearIo io) {
  // K-major tiles; +1 column keeps the transposing stores conflict-free.
  __shared__ float xs[kTileK][kTileM + 1];
  __shared__ float ws[kTileK][kTileN + 1];
  const int tx = static_cast<int>(threadIdx.x) % 16;
  const int ty = static_cast<int>(threadIdx.x) / 16;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kTileN;
  const int64_t m_tiles = (io.m + kTileM - 1) / kTileM;
  for (int64_t mt = blockIdx.y; mt < m_tiles; mt += gridDim.y) {
    const int64_t m0 = mt * kTileM;
    float acc[4][4] = {};
    for (int64_t k0 = 0; k0 < w.k; k0 += kTileK) {
      for (int i = static_cast<int>(threadIdx.x); i < kTileM * kTileK; i += kTileThreads) {
        const int r = i / kTileK;
        const int kk = i % kTileK;
        const int64_t k = k0 + kk;
        const int64_t m = m0 + r;
        const int64_t n = n0 + r;
        xs[kk][r] = m < io.m && k < w.k ? load_as_f32(io.x, m * w.k + k, io.x_dtype) : 0.0f;
        ws[kk][r] = n < w.n && k < w.k ? load_weight<KIND>(w, n, k) : 0.0f;
      }
      __syncthreads();
#pragma unroll 8
      for (int kk = 0; kk < kTileK; ++kk) {
        float a[4];
        float b[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          a[i] = xs[kk][ty + 16 * i];
          b[i] = ws[kk][tx + 16 * i];
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
      }
      __syncthreads();  // the tiles are overwritten next round
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t m = m0 + ty + 16 * i;
      if (m >= io.m) continue;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int64_t n = n0 + tx + 16 * j;
        if (n >= w.n) continue;
        const float bias = io.bias != nullptr ? load_as_f32(io.bias, n, io.x_dtype) : 0.0f;
        store_from_f32(io.out, m * w.n + n, io.out_dtype, acc[i][j] + bias);
      }
    }
  }
}

template <WeightKind KIND>
void launch_gemv_kind(const WeightView& w, const LinearIo& io, cudaStream_t stream) {
  const int64_t rows_per_block = int64_t{kGemvWarps} * kGemvRowsPerWarp;
  const dim3 grid(static_cast<unsigned>((w.n + rows_per_block - 1) / rows_per_block));
  if (io.m <= 1) {
    tsr_cuda_launch(quant_gemv_kernel<KIND, 1>, grid, kGemvThreads, 0, stream, w, io);
  } else if (io.m <= 2) {
    tsr_cuda_launch(quant_gemv_kernel<KIND, 2>, grid, kGemvThreads, 0, stream, w, io);
  } else if (io.m <= 4) {
    tsr_cuda_launch(quant_gemv_kernel<KIND, 4>, grid, kGemvThreads, 0, stream, w, io);
  } else {
    tsr_cuda_launch(quant_gemv_kernel<KIND, 8>, grid, kGemvThreads, 0, stream, w, io);
  }
}

}  // namespace

cudaError_t launch_quant_gemv(const WeightView& w, const LinearIo& io, cudaStream_t stream) {
  if (io.m < 1 || io.m > kGemvMaxRows || w.n < 1) return cudaErrorInvalidValue;
  switch (w.kind) {
    case WeightKind::kInt8:
      launch_gemv_kind<WeightKind::kInt8>(w, io, stream);
      break;
    case WeightKind::kInt4:
      launch_gemv_kind<WeightKind::kInt4>(w, io, stream);
      break;
    case WeightKind::kFp8:
      launch_gemv_kind<WeightKind::kFp8>(w, io, stream);
      break;
    case WeightKind::kInt4Asym:
      launch_gemv_kind<WeightKind::kInt4Asym>(w, io, stream);
      break;
    case WeightKind::kInt8Asym:
      launch_gemv_kind<WeightKind::kInt8Asym>(w, io, stream);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_tiled_gemm(const WeightView& w, const LinearIo& io, cudaStream_t stream) {
  if (io.m < 1 || w.n < 1) return cudaErrorInvalidValue;
  const int64_t m_tiles = (io.m + kTileM - 1) / kTileM;
  const dim3 grid(static_cast<unsigned>((w.n + kTileN - 1) / kTileN),
                  static_cast<unsigned>(m_tiles < kMaxGridY ? m_tiles : kMaxGridY));
  switch (w.kind) {
    case WeightKind::kF32:
      tsr_cuda_launch(tiled_gemm_kernel<WeightKind::kF32>, grid, kTileThreads, 0, stream, w, io);
      break;
    case WeightKind::kF16:
      tsr_cuda_launch(tiled_gemm_kernel<WeightKind::kF16>, grid, kTileThreads, 0, stream, w, io);
      break;
    case WeightKind::kBF16:
      tsr_cuda_launch(tiled_gemm_kernel<WeightKind::kBF16>, grid, kTileThreads, 0, stream, w, io);
      break;
    case WeightKind::kInt8:
      tsr_cuda_launch(tiled_gemm_kernel<WeightKind::kInt8>, grid, kTileThreads, 0, stream, w, io);
      break;
    case WeightKind::kInt4:
      tsr_cuda_launch(tiled_gemm_kernel<WeightKind::kInt4>, grid, kTileThreads, 0, stream, w, io);
      break;
    case WeightKind::kFp8:
      tsr_cuda_launch(tiled_gemm_kernel<WeightKind::kFp8>, grid, kTileThreads, 0, stream, w, io);
      break;
    case WeightKind::kInt4Asym:
      tsr_cuda_launch(tiled_gemm_kernel<WeightKind::kInt4Asym>, grid, kTileThreads, 0, stream, w,
                      io);
      break;
    case WeightKind::kInt8Asym:
      tsr_cuda_launch(tiled_gemm_kernel<WeightKind::kInt8Asym>, grid, kTileThreads, 0, stream, w,
                      io);
      break;
  }
  return cudaGetLastError();
}

}  // namespace tsr::cuda
