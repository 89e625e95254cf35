// linear: out[M, N] = x[M, K] · W^T (+ bias), accumulated in f32, for every canonical weight
// format of plugin.h kept as is on the device (xpu_weights.cpp uploads it unchanged):
// f32/f16/bf16 [N][K]; int8 [N][K] with per-channel or group scales; int4 group-wise
// (two nibbles a byte, even k low); fp8 e4m3 with per-channel scales; and the asymmetric
// group formats (ABI 1.1/1.2: unsigned int4 or uint8 codes u, w = u * scale + min, mins laid
// out as the scales; GGUF Q4_1/Q2_K/Q4_K and Q5_1/Q5_K load as these).
//
// A straightforward tiled kernel: each 16x16 work-group stages a 16x16 tile of x and of the
// dequantized weight in local memory per step along K. It is correct everywhere and is what
// PoCL runs; docs/xpu-plugin.md says what an Arc-tuned int4 GEMV would change.
#define XPU_LINEAR_TILE 16

#define XPU_W_F32 0
#define XPU_W_F16 1
#define XPU_W_BF16 2
#define XPU_W_INT8_CHANNEL 3
#define XPU_W_INT8_GROUP 4
#define XPU_W_INT4_GROUP 5
#define XPU_W_FP8 6
#define XPU_W_INT4_GROUP_ASYM 7
#define XPU_W_INT8_GROUP_ASYM 8

inline float fp8_e4m3_to_float(uchar v) {
  const int sign = v >> 7;
  const int exponent = (v >> 3) & 15;
  const int mantissa = v & 7;
  float out;
  if (exponent == 15 && mantissa == 7) {
    out = NAN;
  } else if (exponent == 0) {
    out = ldexp((float)mantissa / 8.0f, -6);
  } else {
    out = ldexp(1.0f + (float)mantissa / 8.0f, exponent - 7);
  }
  return sign ? -out : out;
}

inline float load_weight(const __global uchar* w, const __global float* scales,
                         const __global float* mins, int format, long group_size, long K, long n,
                         long k) {
  const long i = n * K + k;
  switch (format) {
    case XPU_W_F32:
      return ((const __global float*)w)[i];
    case XPU_W_F16:
      return vload_half((size_t)i, (const __global half*)w);
    case XPU_W_BF16:
      return bf16_to_float(((const __global ushort*)w)[i]);
    case XPU_W_INT8_CHANNEL:
      return (float)((const __global char*)w)[i] * scales[n];
    case XPU_W_INT8_GROUP:
      return (float)((const __global char*)w)[i] * scales[n * (K / group_size) + k / group_size];
    case XPU_W_INT4_GROUP: {
      const uchar byte = w[n * (K / 2) + k / 2];
      const int u = (k & 1) ? (byte >> 4) : (byte & 15);
      return (float)(u - 8) * scales[n * (K / group_size) + k / group_size];
    }
    case XPU_W_INT4_GROUP_ASYM: {
      const uchar byte = w[n * (K / 2) + k / 2];
      const int u = (k & 1) ? (byte >> 4) : (byte & 15);
      const long g = n * (K / group_size) + k / group_size;
      return fma((float)u, scales[g], mins[g]);
    }
    case XPU_W_INT8_GROUP_ASYM: {
      const long g = n * (K / group_size) + k / group_size;
      return fma((float)w[i], scales[g], mins[g]);
    }
    default:
      return fp8_e4m3_to_float(w[i]) * scales[n];
  }
}

// Work-group (16, 16): dimension 0 walks N, dimension 1 walks M.
__kernel void xpu_linear(XPU_ARG(x), int x_dtype, XPU_ARG(w), XPU_ARG(scales), XPU_ARG(mins),
                         int format, long group_size, XPU_ARG(bias), XPU_ARG(out), int out_dtype, long M,
                         long N, long K) {
  __local float xs[XPU_LINEAR_TILE][XPU_LINEAR_TILE];
  __local float ws[XPU_LINEAR_TILE][XPU_LINEAR_TILE + 1];
  const int l0 = (int)get_local_id(0);
  const int l1 = (int)get_local_id(1);
  const long n0 = (long)get_group_id(0) * XPU_LINEAR_TILE;
  const long m0 = (long)get_group_id(1) * XPU_LINEAR_TILE;
  const __global uchar* xp = XPU_PTR(const uchar, x);
  const __global uchar* wp = XPU_PTR(const uchar, w);
  const __global float* sp = XPU_PRESENT(scales) ? XPU_PTR(const float, scales) : 0;
  const __global float* mp = XPU_PRESENT(mins) ? XPU_PTR(const float, mins) : 0;
  float acc = 0.0f;
  for (long k0 = 0; k0 < K; k0 += XPU_LINEAR_TILE) {
    const long k = k0 + l0;
    const long xm = m0 + l1;
    const long wn = n0 + l1;
    xs[l1][l0] = (xm < M && k < K) ? load_value(xp, xm * K + k, x_dtype) : 0.0f;
    ws[l1][l0] = (wn < N && k < K) ? load_weight(wp, sp, mp, format, group_size, K, wn, k) : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int kk = 0; kk < XPU_LINEAR_TILE; ++kk) acc += xs[l1][kk] * ws[l0][kk];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const long m = m0 + l1;
  const long n = n0 + l0;
  if (m >= M || n >= N) return;
  if (XPU_PRESENT(bias)) acc += load_value(XPU_PTR(const uchar, bias), n, x_dtype);
  store_value(XPU_PTR(uchar, out), m * N + n, out_dtype, acc);
}

#define XPU_GEMV_THREADS 64
#define XPU_GEMV_MAX_ROWS 8

// Decode-sized linear (M <= XPU_GEMV_MAX_ROWS), which is bound by reading the weights: one
// work-group per output feature n reads that weight row once for all M activation rows.
// Work-items stride along K, so neighbours read neighbouring weight bytes (whole cache lines
// per sub-group), and the M partial sums meet in local memory.
__kernel void xpu_linear_gemv(XPU_ARG(x), int x_dtype, XPU_ARG(w), XPU_ARG(scales),
                              XPU_ARG(mins), int format, long group_size, XPU_ARG(bias), XPU_ARG(out), int out_dtype,
                              long M, long N, long K) {
  __local float partial[XPU_GEMV_MAX_ROWS][XPU_GEMV_THREADS];
  const long n = get_group_id(0);
  const int lid = (int)get_local_id(0);
  const __global uchar* xp = XPU_PTR(const uchar, x);
  const __global uchar* wp = XPU_PTR(const uchar, w);
  const __global float* sp = XPU_PRESENT(scales) ? XPU_PTR(const float, scales) : 0;
  const __global float* mp = XPU_PRESENT(mins) ? XPU_PTR(const float, mins) : 0;
  float acc[XPU_GEMV_MAX_ROWS];
  for (int m = 0; m < XPU_GEMV_MAX_ROWS; ++m) acc[m] = 0.0f;
  for (long k = lid; k < K; k += XPU_GEMV_THREADS) {
    const float wv = load_weight(wp, sp, mp, format, group_size, K, n, k);
    for (int m = 0; m < XPU_GEMV_MAX_ROWS; ++m) {
      if (m < M) acc[m] += load_value(xp, m * K + k, x_dtype) * wv;
    }
  }
  for (int m = 0; m < XPU_GEMV_MAX_ROWS; ++m) partial[m][lid] = acc[m];
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int stride = XPU_GEMV_THREADS / 2; stride > 0; stride /= 2) {
    if (lid < stride) {
      for (int m = 0; m < XPU_GEMV_MAX_ROWS; ++m) partial[m][lid] += partial[m][lid + stride];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid >= M) return;
  float v = partial[lid][0];
  if (XPU_PRESENT(bias)) v += load_value(XPU_PTR(const uchar, bias), n, x_dtype);
  store_value(XPU_PTR(uchar, out), (long)lid * N + n, out_dtype, v);
}
