// Row-wise ops: gather rows (embedding and gather_rows), add, silu_mul, gelu_tanh_mul, rms_norm (with the
// fused residual add) and rope. Index values live in device memory and cannot be checked on
// the host: an index out of range gives a zero row, never a read outside the table.

// out[r, :] = src[idx[r], :] as bytes; dimension 0 walks the bytes of a row.
__kernel void xpu_gather_rows(XPU_ARG(src), long src_rows, long row_bytes, XPU_ARG(idx),
                              long count, XPU_ARG(out)) {
  const long byte = get_global_id(0);
  const long r = get_global_id(1);
  if (byte >= row_bytes || r >= count) return;
  const int i = XPU_PTR(const int, idx)[r];
  __global uchar* o = XPU_PTR(uchar, out);
  o[r * row_bytes + byte] =
      (i >= 0 && i < src_rows) ? XPU_PTR(const uchar, src)[(long)i * row_bytes + byte] : 0;
}

__kernel void xpu_add(XPU_ARG(a), XPU_ARG(b), XPU_ARG(out), long n, int dtype) {
  const long i = get_global_id(0);
  if (i >= n) return;
  const float v = load_value(XPU_PTR(const uchar, a), i, dtype) +
                  load_value(XPU_PTR(const uchar, b), i, dtype);
  store_value(XPU_PTR(uchar, out), i, dtype, v);
}

// x: [rows, 2 * inner] = [gate | up]; out: [rows, inner].
__kernel void xpu_silu_mul(XPU_ARG(x), XPU_ARG(out), long rows, long inner, int dtype) {
  const long j = get_global_id(0);
  const long r = get_global_id(1);
  if (j >= inner || r >= rows) return;
  const __global uchar* xp = XPU_PTR(const uchar, x);
  const float g = load_value(xp, r * 2 * inner + j, dtype);
  const float u = load_value(xp, r * 2 * inner + inner + j, dtype);
  store_value(XPU_PTR(uchar, out), r * inner + j, dtype, g / (1.0f + exp(-g)) * u);
}

// ABI 1.2, GeGLU: the same layout, gelu_tanh(gate) * up with
// gelu_tanh(g) = 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))).
__kernel void xpu_gelu_tanh_mul(XPU_ARG(x), XPU_ARG(out), long rows, long inner, int dtype) {
  const long j = get_global_id(0);
  const long r = get_global_id(1);
  if (j >= inner || r >= rows) return;
  const __global uchar* xp = XPU_PTR(const uchar, x);
  const float g = load_value(xp, r * 2 * inner + j, dtype);
  const float u = load_value(xp, r * 2 * inner + inner + j, dtype);
  // 0.5 g (1 + tanh u) as g / (1 + exp(-2u)): no cancellation near tanh u = -1, where the
  // first form loses all relative precision (gates below about -5).
  const float gelu = g / (1.0f + exp(-1.5957691216057308f * (g + 0.044715f * g * g * g)));
  store_value(XPU_PTR(uchar, out), r * inner + j, dtype, gelu * u);
}

#define XPU_NORM_THREADS 256

// One work-group of XPU_NORM_THREADS per row: sum of squares reduced in local memory.
// With a residual: residual = residual + x (rounded to the activation dtype) first, and the
// norm is taken of the rounded sum.
__kernel void xpu_rms_norm(XPU_ARG(x), XPU_ARG(weight), int weight_dtype, XPU_ARG(residual),
                           XPU_ARG(out), long cols, float eps, int dtype) {
  __local float partial[XPU_NORM_THREADS];
  const long row = get_group_id(0);
  const int lid = (int)get_local_id(0);
  const __global uchar* xp = XPU_PTR(const uchar, x) + row * cols * (dtype == XPU_F32 ? 4 : 2);
  __global uchar* rp = 0;
  const int fused = XPU_PRESENT(residual);
  if (fused) rp = XPU_PTR(uchar, residual) + row * cols * (dtype == XPU_F32 ? 4 : 2);
  float sum = 0.0f;
  for (long c = lid; c < cols; c += XPU_NORM_THREADS) {
    float v = load_value(xp, c, dtype);
    if (fused) {
      v = round_to_dtype(load_value(rp, c, dtype) + v, dtype);
      store_value(rp, c, dtype, v);
    }
    sum += v * v;
  }
  partial[lid] = sum;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int stride = XPU_NORM_THREADS / 2; stride > 0; stride /= 2) {
    if (lid < stride) partial[lid] += partial[lid + stride];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float inv = rsqrt(partial[0] / (float)cols + eps);
  const __global uchar* src = fused ? (const __global uchar*)rp : xp;
  __global uchar* op = XPU_PTR(uchar, out) + row * cols * (dtype == XPU_F32 ? 4 : 2);
  const __global uchar* wp = XPU_PTR(const uchar, weight);
  for (long c = lid; c < cols; c += XPU_NORM_THREADS) {
    const float v = load_value(src, c, dtype) * inv * load_value(wp, c, weight_dtype);
    store_value(op, c, dtype, v);
  }
}

#define XPU_ROPE_MAX_PAIRS 128
typedef struct {
  float v[XPU_ROPE_MAX_PAIRS];
} RopeFrequencies;

// One work-item per (pair, head, token) of query and key together: heads [0, q_heads) are
// the query's, [q_heads, q_heads + k_heads) the key's. Angles are f32 as the contract says.
__kernel void xpu_rope(XPU_ARG(query), XPU_ARG(key), XPU_ARG(positions), long tokens,
                       int q_heads, int k_heads, int head_dim, int rotary_dim, int neox,
                       int long_from, float attention_factor, int dtype,
                       RopeFrequencies freq) {
  const int i = (int)get_global_id(0);
  const int h = (int)get_global_id(1);
  const long t = get_global_id(2);
  const int half_dim = rotary_dim / 2;
  if (i >= half_dim || h >= q_heads + k_heads || t >= tokens) return;
  __global uchar* base;
  long row;
  if (h < q_heads) {
    base = XPU_PTR(uchar, query);
    row = (t * q_heads + h) * head_dim;
  } else {
    base = XPU_PTR(uchar, key);
    row = (t * k_heads + (h - q_heads)) * head_dim;
  }
  // ABI 1.2, LongRoPE: positions >= long_from take the long table, freq.v[half_dim + i]
  // (long_from is INT_MAX without it), and cos/sin scale by attention_factor (else 1).
  const int position = XPU_PTR(const int, positions)[t];
  const float angle = (float)position * freq.v[i + (position >= long_from ? half_dim : 0)];
  const float c = cos(angle) * attention_factor;
  const float s = sin(angle) * attention_factor;
  const long ia = row + (neox ? i : 2 * i);
  const long ib = row + (neox ? i + half_dim : 2 * i + 1);
  const float a = load_value(base, ia, dtype);
  const float b = load_value(base, ib, dtype);
  store_value(base, ia, dtype, a * c - b * s);
  store_value(base, ib, dtype, b * c + a * s);
}
