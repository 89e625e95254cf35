// Helpers shared by every XPU kernel (OpenCL C 1.2; this file comes first in the program).
//
// Buffers arrive as (base pointer, byte offset) pairs (xpu_runtime.h explains why); XPU_ARG
// declares the pair and XPU_PTR rebuilds the typed pointer. Activations and KV entries are
// f32, f16 or bf16, chosen at run time by a dtype code equal to tsr_dtype (1 f32, 2 f16,
// 3 bf16): f16 goes through vload_half/vstore_half_rte, which OpenCL 1.2 offers without
// cl_khr_fp16, and bf16 is the upper half of an f32 with round-to-nearest-even.
#define XPU_ARG(name) __global uchar *name##_base, ulong name##_off
#define XPU_PTR(type, name) ((__global type*)(name##_base + name##_off))
#define XPU_PRESENT(name) (name##_base != 0)

#define XPU_F32 1
#define XPU_F16 2
#define XPU_BF16 3

inline float bf16_to_float(ushort b) {
  return as_float(((uint)b) << 16);
}

inline ushort float_to_bf16(float v) {
  uint u = as_uint(v);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return (ushort)(u >> 16);
}

inline float load_value(__global const uchar* p, long i, int dtype) {
  if (dtype == XPU_F32) return ((__global const float*)p)[i];
  if (dtype == XPU_F16) return vload_half((size_t)i, (__global const half*)p);
  return bf16_to_float(((__global const ushort*)p)[i]);
}

inline void store_value(__global uchar* p, long i, int dtype, float v) {
  if (dtype == XPU_F32) {
    ((__global float*)p)[i] = v;
  } else if (dtype == XPU_F16) {
    vstore_half_rte(v, (size_t)i, (__global half*)p);
  } else {
    ((__global ushort*)p)[i] = float_to_bf16(v);
  }
}

// The value `v` becomes once stored in `dtype` (the activation rounding of fused ops).
inline float round_to_dtype(float v, int dtype) {
  if (dtype == XPU_F32) return v;
  if (dtype == XPU_BF16) return bf16_to_float(float_to_bf16(v));
  // Without cl_khr_fp16 a half may be stored and loaded but not declared: go through bits.
  ushort bits = 0;
  vstore_half_rte(v, 0, (__private half*)&bits);
  return vload_half(0, (__private const half*)&bits);
}
