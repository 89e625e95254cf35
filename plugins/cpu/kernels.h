// The table of ISA-specific inner loops. Each kernel set (generic, AVX2+FMA+F16C, AVX-512)
// fills one table; ops call kernels() and never test the ISA themselves. Kernels work on
// f32 rows; bf16/f16 are converted at the edges. Results of different sets agree to float
// rounding (summation order and FMA differ), not bit for bit.
#ifndef TESSERA_PLUGINS_CPU_KERNELS_H
#define TESSERA_PLUGINS_CPU_KERNELS_H

#include <cstdint>

namespace tsr::cpu {

struct Kernels {
  const char* name;
  // sum_i a[i] * b[i]
  float (*dot)(const float* a, const float* b, int64_t n);
  // y[i] += alpha * x[i]
  void (*axpy)(float alpha, const float* x, float* y, int64_t n);
  // y[i] *= alpha
  void (*scale)(float alpha, float* y, int64_t n);
  // sum_i x[i]^2
  float (*sum_squares)(const float* x, int64_t n);
  // out[i] = x[i] * s * w[i]
  void (*mul_scaled)(const float* x, const float* w, float s, float* out, int64_t n);
  // out[i] = silu(gate[i]) * up[i]
  void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n);
  // out[i] = a[i] + b[i]
  void (*add)(const float* a, const float* b, float* out, int64_t n);
  void (*bf16_to_f32)(const uint16_t* src, float* dst, int64_t n);
  void (*f32_to_bf16)(const float* src, uint16_t* dst, int64_t n);
  void (*f16_to_f32)(const uint16_t* src, float* dst, int64_t n);
  void (*f32_to_f16)(const float* src, uint16_t* dst, int64_t n);
  // One weight row of k elements: out[j] = q[j] * scales[j / group].
  void (*dequant_i8)(const int8_t* q, const float* scales, int64_t group, int64_t k, float* out);
  // One int4 row of k elements (k/2 bytes, element j in the low nibble when j is even):
  // out[j] = (u - 8) * scales[j / group].
  void (*dequant_i4)(const uint8_t* q, const float* scales, int64_t group, int64_t k, float* out);
  // sum_j x[j] * q[j] * scales[j / group] over one int8 weight row of k elements, without
  // materialising the dequantized row (the GEMV of decode steps: memory-bound only if the
  // dequantization costs no more than the load).
  float (*dot_i8)(const float* x, const int8_t* q, const float* scales, int64_t group, int64_t k);
  // The same over one int4 row (layout as dequant_i4).
  float (*dot_i4)(const float* x, const uint8_t* q, const float* scales, int64_t group, int64_t k);
  // Attention over one KV block, n rows of dim floats each (one call per block instead of
  // one per key, so the vector loops run long enough to pay off):
  // out[i] = scale * sum_d q[d] * keys[i * dim + d]
  void (*scaled_dots)(const float* q, const float* keys, int64_t n, int64_t dim, float scale,
                      float* out);
  // s[i] = exp(s[i] - shift) (shift >= every s[i]), or 0 where that is below FLT_MIN;
  // returns sum_i s[i]. Why the flush: a subnormal weight contributes less than 2^-126 of the
  // softmax row's largest term (1), far below f32 rounding, and every multiply it enters in
  // weighted_rows takes a microcode assist: on the Zen 5 VM subnormal attention weights cost
  // SmolLM2's decode a quarter of its time. NaN is kept.
  float (*exp_shifted_sum)(float* s, int64_t n, float shift);
  // acc[d] += sum_i p[i] * rows[i * dim + d]
  void (*weighted_rows)(const float* p, const float* rows, int64_t n, int64_t dim, float* acc);
  // out[i] = gelu_tanh(gate[i]) * up[i] (GeGLU; the vector sets use the identity
  // 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)), so they need only exp)
  void (*gelu_tanh_mul)(const float* gate, const float* up, float* out, int64_t n);
  // Prefill attention over a chunk of 16 keys transposed to kt[d * 16 + i] (key i, element d;
  // keys past the chunk zero), for `rows` query rows of dim floats at q + r * dim:
  // out[r * 16 + i] = scale * sum_d q[r * dim + d] * kt[d * 16 + i]. A broadcast query
  // element times a row of kt: 16 keys per multiply-add and no horizontal sums.
  void (*transposed_scores)(const float* q, int64_t rows, int64_t dim, const float* kt, float scale,
                            float* out);
};

// The constants of the tanh approximation of GELU: sqrt(2/pi) and the cubic coefficient.
inline constexpr float kGeluTanhScale = 0.7978845608028654f;
inline constexpr float kGeluTanhCubic = 0.044715f;

// Activations for the integer tile kernels (quant_tiles.h): blocks of kQ8Block values, each scaled
// by absmax / 127 and rounded to int8 (llama.cpp's Q8 activations). Generic code: it runs once per
// activation row, not per weight row. False (nothing usable) when x has a NaN or Inf, which the
// integer path could not carry: the caller then takes the float path.
inline constexpr int64_t kQ8Block = 32;
bool quantize_q8(const float* x, int64_t k, int8_t* xq, float* xs, int32_t* xsum);

const Kernels& kernels_generic();
// NULL when the build's compiler could not target the ISA.
const Kernels* kernels_avx2();
const Kernels* kernels_avx512();

// The active set (chosen by select_isa()).
const Kernels& kernels();
void set_active_kernels(const Kernels* set);

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_KERNELS_H
