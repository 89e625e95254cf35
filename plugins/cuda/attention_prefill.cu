// Paged attention, tiled FlashAttention-2 style kernel (f32 on CUDA cores), used for every
// batch that is not pure decode. Written by hand: no package provides paged attention over
// this plugin's KV layout.
//
// Work split: one CTA = one query head x a tile of up to BM query rows of one sequence.
// Tiles are numbered without a host read of query_start_loc: sequence b owns tiles
// [floor(qsl[b] / BM) + b, floor(qsl[b+1] / BM) + b + 1), which always has room for its
// ceil(q_len / BM) tiles, so grid.x = floor(T / BM) + B + 1 covers every batch; a CTA finds
// its sequence by binary search and exits when its tile is past the sequence's rows.
//
// Per CTA (128 threads = 16 row groups x 8 column lanes): Q [BM][D] is converted to f32
// in shared memory once; then for each tile of BN context positions (any block_size: each
// position looks up its block), K is staged in shared memory as f32, S = Q K^T is computed
// per thread on RM rows x KN keys, masked (causal, sliding window, invalid block id,
// past the context), soft-capped, and folded into the online softmax (running max in the
// log2 domain, per-thread partial sums); P goes to shared memory, V replaces K in the same
// buffer, and O += P V on RM rows x CN columns per thread. Rows of a thread are strided by
// 16, keys and output columns by 8, and every shared row is padded by one float, so the
// shared accesses of a warp hit distinct banks or broadcast.
//
// Robustness: query_start_loc values are clamped to [0, T], seq_lens to the block table's
// width, and a block id outside [0, num_blocks) contributes nothing; rows without any
// valid context get zeros.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>

#include "attention.h"
#include "cuda_dtype.cuh"

namespace tsr::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kRowGroups = 16;
constexpr int kColLanes = 8;
constexpr float kLog2e = 1.4426950408889634f;

template <int Dp>
struct Tile;
template <>
struct Tile<32> {
  static constexpr int BM = 64, BN = 64;
};
template <>
struct Tile<64> {
  static constexpr int BM = 64, BN = 64;
};
template <>
struct Tile<128> {
  static constexpr int BM = 64, BN = 32;
};
template <>
struct Tile<256> {
  static constexpr int BM = 32, BN = 32;
};

template <int Dp>
constexpr size_t shared_bytes() {
  constexpr int BM = Tile<Dp>::BM, BN = Tile<Dp>::BN;
  return sizeof(float) * (static_cast<size_t>(BM) * (Dp + 1) + static_cast<size_t>(BN) * (Dp + 1) +
                          static_cast<size_t>(BM) * (BN + 1)) +
         sizeof(int) * 2 * BN;
}

template <class KV, int Dp>
__global__ void __launch_bounds__(kThreads)
    prefill_kernel(const PagedAttentionArgs a, const int64_t block_elems) {
  constexpr int BM = Tile<Dp>::BM, BN = Tile<Dp>::BN;
  constexpr int RM = BM / kRowGroups;  // rows per thread
  constexpr int KN = BN / kColLanes;   // keys per thread
  constexpr int CN = Dp / kColLanes;   // output columns per thread
  constexpr int QS = Dp + 1;           // padded row strides
  constexpr int PS = BN + 1;
  TSR_CUDA_DYNAMIC_SHARED(float, smem);
  float* q_s = smem;                                   // [BM][QS]
  float* kv_s = q_s + BM * QS;                         // [BN][QS], K then V
  float* p_s = kv_s + BN * QS;                         // [BM][PS]
  int* blk_s = reinterpret_cast<int*>(p_s + BM * PS);  // block id per key, -1: no key
  int* off_s = blk_s + BN;                             // offset in the block per key

  const int T = a.tokens;
  const int B = a.num_seqs;
  const int D = a.head_dim;
  const int h = blockIdx.y;
  const int kvh = h / (a.num_query_heads / a.num_kv_heads);
  const int x = blockIdx.x;
  const int32_t* qsl = a.query_start_loc;
  auto start_of = [&](int s) { return min(max(qsl[s], 0), T); };

  // Largest b with floor(qsl[b] / BM) + b <= x.
  int lo = 0, hi = B - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (start_of(mid) / BM + mid <= x) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const int b = lo;
  const int q_begin = start_of(b);
  const int q_end = max(start_of(b + 1), q_begin);
  const int local_tile = x - (q_begin / BM + b);
  if (local_tile < 0) return;
  const int r0 = q_begin + local_tile * BM;  // first row of this tile
  if (r0 >= q_end) return;
  const int r1 = min(r0 + BM, q_end);
  const int64_t q_len = q_end - q_begin;
  const int64_t seq_len = a.seq_lens[b];
  const int64_t ctx_end = min(seq_len, a.max_blocks_per_seq * a.block_size);
  const int64_t pos0 = seq_len - q_len + (r0 - q_begin);  // position of row r0
  const int64_t window = a.sliding_window;
  const int64_t kv_lo = window > 0 ? max(int64_t{0}, pos0 - window + 1) : 0;
  const int64_t kv_hi = min(pos0 + (r1 - r0) - 1, ctx_end - 1);
  const int32_t* table = a.block_tables + static_cast<int64_t>(b) * a.max_blocks_per_seq;
  const KV* cache = static_cast<const KV*>(a.cache);
  const bool vec = (reinterpret_cast<uintptr_t>(a.cache) % 16) == 0;
  const int64_t half_elems = block_elems / 2;
  const int chunks = D / 8;

  const int tid = threadIdx.x;
  const int tr = tid / kColLanes;
  const int tc = tid % kColLanes;

  for (int i = tid; i < BM * D; i += kThreads) {
    const int row = i / D, d = i % D;
    const int t = r0 + row;
    q_s[row * QS + d] =
        t < r1 ? load_as_f32(a.query, (static_cast<int64_t>(t) * a.num_query_heads + h) * D + d,
                             a.act_dtype)
               : 0.0f;
  }

  float m[RM], l[RM], acc[RM][CN];
  int64_t pos[RM];
#pragma unroll
  for (int i = 0; i < RM; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
    pos[i] = pos0 + tr + i * kRowGroups;
#pragma unroll
    for (int k = 0; k < CN; ++k) acc[i][k] = 0.0f;
  }
  const float scale = a.scale;
  const float cap = a.logit_softcap;
  const int kmax = chunks;  // column c = tc + 8k is < D exactly when k < D / 8

  for (int64_t kt = kv_lo; kt <= kv_hi; kt += BN) {
    if (tid < BN) {
      const int64_t p = kt + tid;
      int id = -1;
      int off = 0;
      if (p <= kv_hi) {
        const int pi = static_cast<int>(p);  // p < seq_lens[b], an int32
        const int32_t blk = table[pi / a.block_size];
        if (blk >= 0 && blk < a.num_blocks) id = blk;
        off = pi % a.block_size;
      }
      blk_s[tid] = id;
      off_s[tid] = off;
    }
    __syncthreads();  // blk_s ready; also orders the Q fill before its first use
    for (int i = tid; i < BN * chunks; i += kThreads) {
      const int n = i / chunks, c = i % chunks;
      float v[8];
      const int id = blk_s[n];
      if (id >= 0) {
        load8(cache + id * block_elems + (static_cast<int64_t>(kvh) * a.block_size + off_s[n]) * D +
                  c * 8,
              vec, v);
      } else {
#pragma unroll
        for (int e = 0; e < 8; ++e) v[e] = 0.0f;
      }
#pragma unroll
      for (int e = 0; e < 8; ++e) kv_s[n * QS + c * 8 + e] = v[e];
    }
    __syncthreads();

    float s[RM][KN];
#pragma unroll
    for (int i = 0; i < RM; ++i)
#pragma unroll
      for (int j = 0; j < KN; ++j) s[i][j] = 0.0f;
    for (int d0 = 0; d0 < D; d0 += 8) {
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const int d = d0 + e;
        float qv[RM], kv[KN];
#pragma unroll
        for (int i = 0; i < RM; ++i) qv[i] = q_s[(tr + i * kRowGroups) * QS + d];
#pragma unroll
        for (int j = 0; j < KN; ++j) kv[j] = kv_s[(tc + j * kColLanes) * QS + d];
#pragma unroll
        for (int i = 0; i < RM; ++i)
#pragma unroll
          for (int j = 0; j < KN; ++j) s[i][j] = fmaf(qv[i], kv[j], s[i][j]);
      }
    }

#pragma unroll
    for (int i = 0; i < RM; ++i) {
      float tile_max = -INFINITY;
#pragma unroll
      for (int j = 0; j < KN; ++j) {
        const int n = tc + j * kColLanes;
        const int64_t p = kt + n;
        const bool ok = blk_s[n] >= 0 && p <= pos[i] && (window <= 0 || p > pos[i] - window);
        float v = scale * s[i][j];
        if (cap > 0.0f) v = cap * tanhf(v / cap);
        v = ok ? v * kLog2e : -INFINITY;
        s[i][j] = v;
        tile_max = fmaxf(tile_max, v);
      }
      // The 8 lanes of a row group are consecutive lanes of one warp.
#pragma unroll
      for (int o = kColLanes / 2; o > 0; o >>= 1)
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, o));
      const float m_new = fmaxf(m[i], tile_max);
      const float corr = m[i] == m_new ? 1.0f : exp2f(m[i] - m_new);
      m[i] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < KN; ++j) {
        const float pj = s[i][j] == -INFINITY ? 0.0f : exp2f(s[i][j] - m_new);
        sum += pj;
        p_s[(tr + i * kRowGroups) * PS + tc + j * kColLanes] = pj;
      }
      l[i] = l[i] * corr + sum;
#pragma unroll
      for (int k = 0; k < CN; ++k) acc[i][k] *= corr;
    }
    __syncthreads();  // K fully read, P written

    for (int i = tid; i < BN * chunks; i += kThreads) {
      const int n = i / chunks, c = i % chunks;
      float v[8];
      const int id = blk_s[n];
      if (id >= 0) {
        load8(cache + id * block_elems + half_elems +
                  (static_cast<int64_t>(kvh) * a.block_size + off_s[n]) * D + c * 8,
              vec, v);
      } else {
#pragma unroll
        for (int e = 0; e < 8; ++e) v[e] = 0.0f;
      }
#pragma unroll
      for (int e = 0; e < 8; ++e) kv_s[n * QS + c * 8 + e] = v[e];
    }
    __syncthreads();

#pragma unroll 4
    for (int n = 0; n < BN; ++n) {
      float pv[RM];
#pragma unroll
      for (int i = 0; i < RM; ++i) pv[i] = p_s[(tr + i * kRowGroups) * PS + n];
#pragma unroll
      for (int k = 0; k < CN; ++k) {
        if (k < kmax) {
          const float v = kv_s[n * QS + tc + k * kColLanes];
#pragma unroll
          for (int i = 0; i < RM; ++i) acc[i][k] = fmaf(pv[i], v, acc[i][k]);
        }
      }
    }
    __syncthreads();  // V and P read before the next tile overwrites them
  }

#pragma unroll
  for (int i = 0; i < RM; ++i) {
    float total = l[i];
#pragma unroll
    for (int o = kColLanes / 2; o > 0; o >>= 1) total += __shfl_xor_sync(0xffffffffu, total, o);
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
    const int t = r0 + tr + i * kRowGroups;
    if (t >= r1) continue;
    const int64_t row = (static_cast<int64_t>(t) * a.num_query_heads + h) * D;
#pragma unroll
    for (int k = 0; k < CN; ++k) {
      if (k < kmax) store_from_f32(a.out, row + tc + k * kColLanes, a.act_dtype, acc[i][k] * inv);
    }
  }
}

template <class KV, int Dp>
cudaError_t launch(const PagedAttentionArgs& a, cudaStream_t stream) {
  constexpr int BM = Tile<Dp>::BM;
  constexpr size_t smem = shared_bytes<Dp>();
  auto kernel = prefill_kernel<KV, Dp>;
  if (smem > 48 * 1024) {
    const cudaError_t rc =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (rc != cudaSuccess) return rc;
  }
  const int64_t block_elems = 2 * static_cast<int64_t>(a.num_kv_heads) * a.block_size * a.head_dim;
  const dim3 grid(static_cast<unsigned>(a.tokens / BM + a.num_seqs + 1),
                  static_cast<unsigned>(a.num_query_heads));
  tsr_cuda_launch(kernel, grid, kThreads, smem, stream, a, block_elems);
  return cudaGetLastError();
}

template <class KV>
cudaError_t launch_dim(const PagedAttentionArgs& a, cudaStream_t stream) {
  if (a.head_dim <= 32) return launch<KV, 32>(a, stream);
  if (a.head_dim <= 64) return launch<KV, 64>(a, stream);
  if (a.head_dim <= 128) return launch<KV, 128>(a, stream);
  return launch<KV, 256>(a, stream);
}

}  // namespace

cudaError_t launch_paged_attention_prefill(const PagedAttentionArgs& args, cudaStream_t stream) {
  if (args.head_dim <= 0 || args.head_dim % 8 != 0 || args.head_dim > kAttentionMaxHeadDim ||
      args.num_seqs <= 0 || args.tokens <= 0) {
    return cudaErrorInvalidValue;
  }
  switch (args.kv_dtype) {
    case TSR_DTYPE_F32:
      return launch_dim<float>(args, stream);
    case TSR_DTYPE_F16:
      return launch_dim<__half>(args, stream);
    case TSR_DTYPE_BF16:
      return launch_dim<__nv_bfloat16>(args, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace tsr::cuda
