// Launch interface of the CUDA plugin's row-wise, rope and KV cache kernels (elementwise.cu,
// rope.cu, kv_cache.cu), shared by the host code (g++, ops_elementwise.cpp, ops_kv.cpp) and
// nvcc. Callers have validated dtypes, shapes and buffer ranges; device pointers are never
// dereferenced on the host. Values that live in device memory (token ids, row indices, slots,
// positions) are handled by the kernels: an out-of-range id or index gives a zero row, an
// out-of-range slot is skipped (write) or reads as zeros (read). Launch functions launch
// nothing for empty work, return cudaGetLastError() and never throw or synchronize.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "tessera/plugin.h"

namespace tsr::cuda {

// out[r, :] = src[indices[r], :] as row_bytes-byte rows for r < count; a zero row where
// indices[r] is not in [0, src_rows). Embedding and gather_rows.
cudaError_t launch_gather_rows(const void* src, int64_t src_rows, int64_t row_bytes,
                               const int32_t* indices, int64_t count, void* out,
                               cudaStream_t stream);

struct RmsNormArgs {
  tsr_dtype dtype;         // x, residual, out
  tsr_dtype weight_dtype;  // dtype or F32
  const void* x;
  const void* weight;
  void* residual;  // NULL: plain rms_norm
  void* out;
  int64_t rows;
  int64_t hidden;
  float eps;
};
cudaError_t launch_rms_norm(const RmsNormArgs& args, cudaStream_t stream);

// x: [rows, 2 * inter], out: [rows, inter].
cudaError_t launch_silu_mul(tsr_dtype dtype, const void* x, void* out, int64_t rows, int64_t inter,
                            cudaStream_t stream);
// ABI 1.2: the same shapes, gelu_tanh(gate) * up.
cudaError_t launch_gelu_tanh_mul(tsr_dtype dtype, const void* x, void* out, int64_t rows,
                                 int64_t inter, cudaStream_t stream);

// n elements; out may be exactly a or b.
cudaError_t launch_add(tsr_dtype dtype, const void* a, const void* b, void* out, int64_t n,
                       cudaStream_t stream);

// The inverse frequencies travel in the kernel's by-value parameter (computed on the host,
// bit-identical to the CPU plugin's); 512 of them keep it well under the 4 KiB limit.
inline constexpr int kRopeMaxPairs = 512;

struct RopeArgs {
  void* query;  // [tokens, query_heads, head_dim]
  void* key;    // [tokens, key_heads, head_dim]; NULL with key_heads == 0
  const int32_t* positions;
  int64_t tokens;
  int64_t query_heads;
  int64_t key_heads;
  int64_t head_dim;
  int32_t rotary_dim;  // even, in (0, head_dim], rotary_dim / 2 <= kRopeMaxPairs
  int32_t neox;        // nonzero: pairs (i, i + rotary_dim / 2); else (2i, 2i + 1)
  // ABI 1.2 (LongRoPE): positions >= long_from rotate with inv_freq[half + i] (the long
  // table; then rotary_dim <= kRopeMaxPairs), and cos/sin are multiplied by
  // attention_factor. Without it: INT32_MAX and 1.
  int32_t long_from;
  float attention_factor;
  float inv_freq[kRopeMaxPairs];
};
cudaError_t launch_rope(tsr_dtype dtype, const RopeArgs& args, cudaStream_t stream);

// key/value: [tokens, heads, head_dim] of the activation dtype; cache: one layer's buffer in
// the layout of kv_layout.h (plugins/cpu) with elements of the cache dtype.
struct KvCacheArgs {
  void* cache;
  void* key;
  void* value;
  const int64_t* slots;  // [tokens]
  int64_t tokens;
  int64_t heads;
  int64_t head_dim;
  int64_t block_size;
  int64_t num_slots;  // num_blocks * block_size
};
cudaError_t launch_kv_cache_write(tsr_dtype act_dtype, tsr_dtype cache_dtype,
                                  const KvCacheArgs& args, cudaStream_t stream);
cudaError_t launch_kv_cache_read(tsr_dtype act_dtype, tsr_dtype cache_dtype,
                                 const KvCacheArgs& args, cudaStream_t stream);

}  // namespace tsr::cuda
