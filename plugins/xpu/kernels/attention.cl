// Paged attention over a flat mixed batch (prefill chunks and decode rows together), with
// GQA, a sliding window and logit soft-capping, reading the CPU plugin's KV block layout
// (kv_cache.cl's kv_key_index).
//
// One work-group of XPU_ATTN_THREADS per (query row, query head). The query row is staged in
// local memory; keys are visited in tiles of XPU_ATTN_THREADS: each work-item scores one
// key of the tile, the tile's scores meet in local memory, and each work-item then folds
// the tile into its own output dims (d = lid, lid + XPU_ATTN_THREADS, ...) with an online
// softmax (running max and sum, rescaled per tile), in f32. Sequence ids, lengths and block
// tables are device data: a row whose sequence cannot be found, or a block id outside the
// cache, contributes nothing instead of reading out of bounds.
#define XPU_ATTN_THREADS 64
#define XPU_ATTN_MAX_DIM 256
#define XPU_ATTN_DIMS_PER_ITEM (XPU_ATTN_MAX_DIM / XPU_ATTN_THREADS)

__kernel void xpu_paged_attention(XPU_ARG(query), XPU_ARG(out), XPU_ARG(cache),
                                  XPU_ARG(query_start_loc), XPU_ARG(seq_lens),
                                  XPU_ARG(block_tables), int seqs, long max_blocks_per_seq,
                                  int q_heads, int kv_heads, int dim, int block_size,
                                  long num_blocks, float scale, int sliding_window,
                                  float softcap, int act_dtype, int cache_dtype) {
  __local float q_local[XPU_ATTN_MAX_DIM];
  __local float scores[XPU_ATTN_THREADS];
  const long t = get_group_id(0);
  const int h = (int)get_group_id(1);
  const int lid = (int)get_local_id(0);
  const __global int* qsl = XPU_PTR(const int, query_start_loc);
  const __global int* lens = XPU_PTR(const int, seq_lens);
  const __global int* tables = XPU_PTR(const int, block_tables);
  const __global uchar* c = XPU_PTR(const uchar, cache);

  // The sequence owning row t (the same answer in every work-item).
  int b = -1;
  for (int s = 0; s < seqs; ++s) {
    if (t >= qsl[s] && t < qsl[s + 1]) {
      b = s;
      break;
    }
  }
  long first = 0;
  long last = -1;  // keys [first, last] are attended to
  if (b >= 0) {
    const long q_len = (long)qsl[b + 1] - qsl[b];
    last = (long)lens[b] - q_len + (t - qsl[b]);
    if (last >= lens[b]) last = (long)lens[b] - 1;
    if (sliding_window > 0 && last - sliding_window + 1 > first) first = last - sliding_window + 1;
  }

  const __global uchar* qp = XPU_PTR(const uchar, query);
  const long q_row = (t * q_heads + h) * dim;
  for (int d = lid; d < dim; d += XPU_ATTN_THREADS) q_local[d] = load_value(qp, q_row + d, act_dtype);
  barrier(CLK_LOCAL_MEM_FENCE);

  const int kv_head = h / (q_heads / kv_heads);
  const long half_elems = (long)kv_heads * block_size * dim;
  float running_max = -INFINITY;
  float running_sum = 0.0f;
  float acc[XPU_ATTN_DIMS_PER_ITEM];
  for (int r = 0; r < XPU_ATTN_DIMS_PER_ITEM; ++r) acc[r] = 0.0f;

  for (long tile = first; tile <= last; tile += XPU_ATTN_THREADS) {
    // Score one key per work-item.
    const long key = tile + lid;
    float s = -INFINITY;
    if (key <= last) {
      const long j = key / block_size;
      const int block = j < max_blocks_per_seq ? tables[b * max_blocks_per_seq + j] : -1;
      if (block >= 0 && block < num_blocks) {
        const long k0 = kv_key_index((long)block * block_size + key % block_size, kv_heads,
                                     block_size, dim, kv_head, 0);
        float dot = 0.0f;
        for (int d = 0; d < dim; ++d) dot += q_local[d] * load_value(c, k0 + d, cache_dtype);
        s = dot * scale;
        if (softcap > 0.0f) s = softcap * tanh(s / softcap);
      }
    }
    scores[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);

    // Fold the tile into the running softmax; every work-item sees the same scores.
    float tile_max = -INFINITY;
    for (int i = 0; i < XPU_ATTN_THREADS; ++i) tile_max = fmax(tile_max, scores[i]);
    if (tile_max > -INFINITY) {
      const float new_max = fmax(running_max, tile_max);
      const float correction = exp(running_max - new_max);
      running_sum *= correction;
      for (int r = 0; r < XPU_ATTN_DIMS_PER_ITEM; ++r) acc[r] *= correction;
      for (int i = 0; i < XPU_ATTN_THREADS; ++i) {
        if (!(scores[i] > -INFINITY)) continue;
        const float p = exp(scores[i] - new_max);
        running_sum += p;
        const long k = tile + i;
        const int block = tables[b * max_blocks_per_seq + k / block_size];
        const long v0 = kv_key_index((long)block * block_size + k % block_size, kv_heads,
                                     block_size, dim, kv_head, 0) +
                        half_elems;
        for (int r = 0; r < XPU_ATTN_DIMS_PER_ITEM; ++r) {
          const int d = lid + r * XPU_ATTN_THREADS;
          if (d < dim) acc[r] += p * load_value(c, v0 + d, cache_dtype);
        }
      }
      running_max = new_max;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }

  __global uchar* op = XPU_PTR(uchar, out);
  const float inv = running_sum > 0.0f ? 1.0f / running_sum : 0.0f;
  for (int r = 0; r < XPU_ATTN_DIMS_PER_ITEM; ++r) {
    const int d = lid + r * XPU_ATTN_THREADS;
    if (d < dim) store_value(op, q_row + d, act_dtype, acc[r] * inv);
  }
}
