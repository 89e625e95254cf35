// KV cache write and read in the CPU plugin's block layout (plugins/cpu/kv_layout.h): a
// block is K [heads][block_size][dim] then V [heads][block_size][dim] of the cache dtype.
// A negative slot (padding) or one past the last block is skipped: slot values are device
// data the host cannot check, and they must never cause a write outside the cache.

inline long kv_key_index(long slot, int heads, int block_size, int dim, long h, long d) {
  const long block = slot / block_size;
  const long offset = slot % block_size;
  const long half_elems = (long)heads * block_size * dim;
  return block * 2 * half_elems + (h * block_size + offset) * dim + d;
}

// One work-item per (d, head, token); key/value: [tokens, heads, dim] of act_dtype.
__kernel void xpu_kv_cache_write(XPU_ARG(key), XPU_ARG(value), XPU_ARG(slots), XPU_ARG(cache),
                                 long tokens, int heads, int dim, int block_size,
                                 long num_blocks, int act_dtype, int cache_dtype) {
  const int d = (int)get_global_id(0);
  const int h = (int)get_global_id(1);
  const long t = get_global_id(2);
  if (d >= dim || h >= heads || t >= tokens) return;
  const long slot = XPU_PTR(const long, slots)[t];
  if (slot < 0 || slot / block_size >= num_blocks) return;
  const long src = (t * heads + h) * dim + d;
  const long k = kv_key_index(slot, heads, block_size, dim, h, d);
  const long half_elems = (long)heads * block_size * dim;
  __global uchar* c = XPU_PTR(uchar, cache);
  store_value(c, k, cache_dtype, load_value(XPU_PTR(const uchar, key), src, act_dtype));
  store_value(c, k + half_elems, cache_dtype,
              load_value(XPU_PTR(const uchar, value), src, act_dtype));
}

// The inverse; a slot out of range reads as zeros.
__kernel void xpu_kv_cache_read(XPU_ARG(slots), XPU_ARG(cache), XPU_ARG(key), XPU_ARG(value),
                                long tokens, int heads, int dim, int block_size, long num_blocks,
                                int act_dtype, int cache_dtype) {
  const int d = (int)get_global_id(0);
  const int h = (int)get_global_id(1);
  const long t = get_global_id(2);
  if (d >= dim || h >= heads || t >= tokens) return;
  const long slot = XPU_PTR(const long, slots)[t];
  const long dst = (t * heads + h) * dim + d;
  float kv = 0.0f;
  float vv = 0.0f;
  if (slot >= 0 && slot / block_size < num_blocks) {
    const long k = kv_key_index(slot, heads, block_size, dim, h, d);
    const long half_elems = (long)heads * block_size * dim;
    const __global uchar* c = XPU_PTR(const uchar, cache);
    kv = load_value(c, k, cache_dtype);
    vv = load_value(c, k + half_elems, cache_dtype);
  }
  store_value(XPU_PTR(uchar, key), dst, act_dtype, kv);
  store_value(XPU_PTR(uchar, value), dst, act_dtype, vv);
}
