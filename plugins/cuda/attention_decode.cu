// Paged attention, split-KV row kernel (f32 on CUDA cores), used when every sequence brings
// one query row (decode). Written by hand: no package provides paged attention over this
// plugin's KV layout.
//
// Grid (T rows, Hkv x head chunks, num_splits). A CTA serves one query row, one KV head and
// up to GT (1, 2, 4 or 8, a template parameter) query heads of that head's GQA group, so each
// K/V row is read once per group. It finds its sequence by binary search in
// query_start_loc and derives its position, so it is correct for any row of any batch.
// The row's causal (and windowed) context is cut into num_splits ranges of whole KV
// blocks, computed on the device from seq_lens; a split whose range is empty leaves an empty
// partial.
//
// Inside a CTA (128 threads) L = pow2 >= head_dim / 8 lanes share one key, each lane owning
// 8 consecutive dims (one 16-byte load of f16/bf16 keys, two of f32), so a warp reads
// 32 / L consecutive keys, which are contiguous in a block. Every lane group keeps its own
// online softmax (max in the log2 domain, sum, 8 accumulators per head) over the keys it
// visits; the groups are merged through shared memory at the end. With one split the CTA
// normalises and writes the output; otherwise it writes (max, sum, unnormalised acc) to
// the workspace and combine_kernel merges the splits (log-sum-exp), mapping an all-empty row
// to zeros.
//
// Robustness: query_start_loc values are clamped, a row outside every sequence or without
// valid context gets zeros, seq_lens is clamped to the block table's width, and a block id
// outside [0, num_blocks) contributes nothing.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>

#include "attention.h"
#include "cuda_dtype.cuh"

namespace tsr::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxGroups = kThreads;  // lane groups per CTA when L == 1
constexpr float kLog2e = 1.4426950408889634f;

// Where a row's keys are: its sequence, position range [lo, hi] of this split (empty when
// lo > hi) and the sequence's block table.
struct RowRange {
  int64_t lo = 0;
  int64_t hi = -1;
  const int32_t* table = nullptr;
};

__device__ RowRange row_range(const PagedAttentionArgs& a, int t, int split, int num_splits) {
  RowRange r;
  const int T = a.tokens;
  const int32_t* qsl = a.query_start_loc;
  auto start_of = [&](int s) { return min(max(qsl[s], 0), T); };
  // Largest b with qsl[b] <= t: the sequence owning row t when query_start_loc is valid.
  int lo = 0, hi = a.num_seqs - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (start_of(mid) <= t) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const int b = lo;
  const int q_begin = start_of(b);
  const int q_end = start_of(b + 1);
  if (t < q_begin || t >= q_end) return r;
  const int64_t seq_len = a.seq_lens[b];
  const int64_t pos = seq_len - (q_end - q_begin) + (t - q_begin);
  const int64_t ctx_end = min(seq_len, a.max_blocks_per_seq * a.block_size);
  const int64_t c_lo = a.sliding_window > 0 ? max(int64_t{0}, pos - a.sliding_window + 1) : 0;
  const int64_t c_hi = min(pos, ctx_end - 1);
  if (c_lo > c_hi) return r;
  const int64_t bs = a.block_size;
  const int64_t first_block = c_lo / bs;
  const int64_t blocks = c_hi / bs - first_block + 1;
  const int64_t per_split = (blocks + num_splits - 1) / num_splits;
  r.lo = max(c_lo, (first_block + split * per_split) * bs);
  r.hi = min(c_hi, (first_block + (split + 1) * per_split) * bs - 1);
  r.table = a.block_tables + static_cast<int64_t>(b) * a.max_blocks_per_seq;
  return r;
}

// Merge buffers: per lane group and head, (max, sum) and the group's accumulators
// (group stride L * 8 >= head_dim, and groups * L * 8 == 8 * kThreads).
template <int GT>
struct DecodeShared {
  float m[kMaxGroups * GT];
  float l[kMaxGroups * GT];
  float acc[8 * kThreads * GT];
  float row_m[GT];
  float row_l[GT];
};

template <class KV, int GT>
__global__ void __launch_bounds__(kThreads)
    decode_kernel(const PagedAttentionArgs a, const int64_t block_elems, const int lanes_log2,
                  const int num_splits, float* __restrict__ ws_ml, float* __restrict__ ws_acc) {
  __shared__ DecodeShared<GT> sh;
  const int t = blockIdx.x;
  const int split = blockIdx.z;
  const int group = a.num_query_heads / a.num_kv_heads;
  const int chunks_per_kv = (group + GT - 1) / GT;
  const int kvh = blockIdx.y / chunks_per_kv;
  const int h0 = kvh * group + (blockIdx.y % chunks_per_kv) * GT;  // first query head
  const int heads = min(GT, group - (h0 - kvh * group));           // 1..GT
  const int D = a.head_dim;
  const int L = 1 << lanes_log2;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int keys_per_warp = 32 / L;
  const int num_groups = kWarps * keys_per_warp;
  const int gi = warp * keys_per_warp + lane / L;  // this lane's group
  const int d0 = (lane % L) * 8;                   // this lane's dims [d0, d0 + 8)
  const bool dims = d0 < D;                        // D % 8 == 0: all 8 or none

  const RowRange r = row_range(a, t, split, num_splits);
  const KV* cache = static_cast<const KV*>(a.cache);
  const bool vec = (reinterpret_cast<uintptr_t>(a.cache) % 16) == 0;
  const int64_t kv_off = static_cast<int64_t>(kvh) * a.block_size * D + d0;
  const int64_t half_elems = block_elems / 2;

  float q[GT][8], acc[GT][8], m[GT], l[GT];
#pragma unroll
  for (int g = 0; g < GT; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      acc[g][e] = 0.0f;
      q[g][e] =
          dims && g < heads
              ? load_as_f32(a.query,
                            (static_cast<int64_t>(t) * a.num_query_heads + h0 + g) * D + d0 + e,
                            a.act_dtype)
              : 0.0f;
    }
  }
  const float scale = a.scale;
  const float cap = a.logit_softcap;
  const int64_t n_keys = r.hi - r.lo + 1;  // <= 0 when empty
  const int64_t iters = n_keys > 0 ? (n_keys + num_groups - 1) / num_groups : 0;
  for (int64_t it = 0; it < iters; ++it) {
    const int64_t p = r.lo + it * num_groups + gi;
    bool ok = p <= r.hi;
    float k[8], v[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) k[e] = v[e] = 0.0f;
    if (ok) {
      const int pi = static_cast<int>(p);  // p < seq_lens[b], an int32
      const int32_t blk = r.table[pi / a.block_size];
      ok = blk >= 0 && blk < a.num_blocks;
      if (ok && dims) {
        const KV* key =
            cache + blk * block_elems + kv_off + static_cast<int64_t>(pi % a.block_size) * D;
        load8(key, vec, k);
        load8(key + half_elems, vec, v);
      }
    }
    float s[GT];
#pragma unroll
    for (int g = 0; g < GT; ++g) {
      float dot = 0.0f;
#pragma unroll
      for (int e = 0; e < 8; ++e) dot = fmaf(q[g][e], k[e], dot);
      // Every lane runs the same number of steps, so the full mask is exact.
      for (int o = L >> 1; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
      float x = scale * dot;
      if (cap > 0.0f) x = cap * tanhf(x / cap);
      s[g] = ok ? x * kLog2e : -INFINITY;
    }
#pragma unroll
    for (int g = 0; g < GT; ++g) {
      const float m_new = fmaxf(m[g], s[g]);
      const float corr = m[g] == m_new ? 1.0f : exp2f(m[g] - m_new);
      const float w = s[g] == -INFINITY ? 0.0f : exp2f(s[g] - m_new);
      m[g] = m_new;
      l[g] = l[g] * corr + w;
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[g][e] = fmaf(w, v[e], acc[g][e] * corr);
    }
  }

  // Merge the lane groups. Lanes of one group hold the same m and l.
  const int stride = L * 8;
  if (lane % L == 0) {
#pragma unroll
    for (int g = 0; g < GT; ++g) {
      sh.m[gi * GT + g] = m[g];
      sh.l[gi * GT + g] = l[g];
    }
  }
#pragma unroll
  for (int g = 0; g < GT; ++g)
#pragma unroll
    for (int e = 0; e < 8; ++e) sh.acc[(gi * GT + g) * stride + d0 + e] = acc[g][e];
  __syncthreads();
  if (threadIdx.x < GT) {
    const int g = threadIdx.x;
    float row_m = -INFINITY;
    for (int j = 0; j < num_groups; ++j) row_m = fmaxf(row_m, sh.m[j * GT + g]);
    float row_l = 0.0f;
    for (int j = 0; j < num_groups; ++j) {
      const float mj = sh.m[j * GT + g];
      row_l += mj == -INFINITY ? 0.0f : sh.l[j * GT + g] * exp2f(mj - row_m);
    }
    sh.row_m[g] = row_m;
    sh.row_l[g] = row_l;
  }
  __syncthreads();
  // Turn each group's max into its weight relative to the row max.
  for (int i = threadIdx.x; i < num_groups * GT; i += kThreads) {
    const float mj = sh.m[i];
    sh.m[i] = mj == -INFINITY ? 0.0f : exp2f(mj - sh.row_m[i % GT]);
  }
  __syncthreads();
  for (int i = threadIdx.x; i < heads * D; i += kThreads) {
    const int g = i / D, d = i % D;
    float sum = 0.0f;
    for (int j = 0; j < num_groups; ++j)
      sum += sh.acc[(j * GT + g) * stride + d] * sh.m[j * GT + g];
    const int64_t row = static_cast<int64_t>(t) * a.num_query_heads + h0 + g;
    if (num_splits == 1) {
      const float total = sh.row_l[g];
      store_from_f32(a.out, row * D + d, a.act_dtype, total > 0.0f ? sum * (1.0f / total) : 0.0f);
    } else {
      const int64_t part = row * num_splits + split;
      ws_acc[part * D + d] = sum;
      if (d == 0) {
        ws_ml[2 * part] = sh.row_m[g];
        ws_ml[2 * part + 1] = sh.row_l[g];
      }
    }
  }
}

// One CTA per (row, query head): out = sum_s acc_s 2^(m_s - M) / sum_s l_s 2^(m_s - M).
__global__ void __launch_bounds__(kThreads)
    combine_kernel(const PagedAttentionArgs a, const int num_splits,
                   const float* __restrict__ ws_ml, const float* __restrict__ ws_acc) {
  __shared__ float weight[kAttentionMaxSplits];
  __shared__ float inv_total;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * a.num_query_heads + blockIdx.y;
  const float* ml = ws_ml + 2 * row * num_splits;
  if (threadIdx.x == 0) {
    float row_m = -INFINITY;
    for (int s = 0; s < num_splits; ++s) row_m = fmaxf(row_m, ml[2 * s]);
    float total = 0.0f;
    for (int s = 0; s < num_splits; ++s) {
      const float ms = ml[2 * s];
      const float w = ms == -INFINITY ? 0.0f : exp2f(ms - row_m);
      weight[s] = w;
      total += ml[2 * s + 1] * w;
    }
    inv_total = total > 0.0f ? 1.0f / total : 0.0f;
  }
  __syncthreads();
  const int D = a.head_dim;
  const float* acc = ws_acc + row * num_splits * D;
  for (int d = threadIdx.x; d < D; d += kThreads) {
    float sum = 0.0f;
    for (int s = 0; s < num_splits; ++s) sum += acc[static_cast<int64_t>(s) * D + d] * weight[s];
    store_from_f32(a.out, row * D + d, a.act_dtype, sum * inv_total);
  }
}

template <class KV, int GT>
cudaError_t launch(const PagedAttentionArgs& a, int num_splits, float* ws_ml, float* ws_acc,
                   cudaStream_t stream) {
  const int group = a.num_query_heads / a.num_kv_heads;
  const int chunks = (group + GT - 1) / GT;
  int lanes_log2 = 0;
  while ((1 << lanes_log2) * 8 < a.head_dim) ++lanes_log2;
  const int64_t block_elems = 2 * static_cast<int64_t>(a.num_kv_heads) * a.block_size * a.head_dim;
  const dim3 grid(static_cast<unsigned>(a.tokens), static_cast<unsigned>(a.num_kv_heads * chunks),
                  static_cast<unsigned>(num_splits));
  tsr_cuda_launch(decode_kernel<KV, GT>, grid, kThreads, 0, stream, a, block_elems, lanes_log2,
                  num_splits, ws_ml, ws_acc);
  return cudaGetLastError();
}

template <class KV>
cudaError_t launch_group(const PagedAttentionArgs& a, int num_splits, float* ws_ml, float* ws_acc,
                         cudaStream_t stream) {
  switch (attention_decode_heads_per_cta(a.num_query_heads / a.num_kv_heads)) {
    case 1:
      return launch<KV, 1>(a, num_splits, ws_ml, ws_acc, stream);
    case 2:
      return launch<KV, 2>(a, num_splits, ws_ml, ws_acc, stream);
    case 4:
      return launch<KV, 4>(a, num_splits, ws_ml, ws_acc, stream);
    default:
      return launch<KV, 8>(a, num_splits, ws_ml, ws_acc, stream);
  }
}

}  // namespace

cudaError_t launch_paged_attention_decode(const PagedAttentionArgs& args, int num_splits,
                                          void* workspace, cudaStream_t stream) {
  if (args.head_dim <= 0 || args.head_dim % 8 != 0 || args.head_dim > kAttentionMaxHeadDim ||
      args.num_seqs <= 0 || args.tokens <= 0 || args.num_kv_heads <= 0 ||
      args.num_query_heads % args.num_kv_heads != 0 || num_splits < 1 ||
      num_splits > kAttentionMaxSplits || (num_splits > 1 && workspace == nullptr)) {
    return cudaErrorInvalidValue;
  }
  float* ws_ml = static_cast<float*>(workspace);
  float* ws_acc = num_splits > 1 ? ws_ml + 2 * static_cast<int64_t>(args.tokens) *
                                               args.num_query_heads * num_splits
                                 : nullptr;
  cudaError_t rc = cudaSuccess;
  switch (args.kv_dtype) {
    case TSR_DTYPE_F32:
      rc = launch_group<float>(args, num_splits, ws_ml, ws_acc, stream);
      break;
    case TSR_DTYPE_F16:
      rc = launch_group<__half>(args, num_splits, ws_ml, ws_acc, stream);
      break;
    case TSR_DTYPE_BF16:
      rc = launch_group<__nv_bfloat16>(args, num_splits, ws_ml, ws_acc, stream);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  if (rc != cudaSuccess || num_splits == 1) return rc;
  const dim3 grid(static_cast<unsigned>(args.tokens), static_cast<unsigned>(args.num_query_heads));
  tsr_cuda_launch(combine_kernel, grid, kThreads, 0, stream, args, num_splits, ws_ml, ws_acc);
  return cudaGetLastError();
}

}  // namespace tsr::cuda
