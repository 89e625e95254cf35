// The AVX-512 (F/BW/VL/DQ + FMA + F16C) kernel set; same structure and caveats as
// kernels_avx2.cpp (function-level target through the pragma, intrinsics only inside it).
// Selected only when cpuid and the OS report AVX-512 state support.
// GCC 12's AVX-512 headers build results from _mm512_undefined_*() and then warn that
// those are uninitialised when the intrinsics are inlined (GCC bug 105593): silence just
// those two warnings for this file.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TSR_CPU_HAVE_AVX512_KERNELS 1
#endif

#ifdef TSR_CPU_HAVE_AVX512_KERNELS
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")

namespace tsr::cpu {
namespace {

// exp(x) as in kernels_avx2.cpp, 16 lanes.
inline __m512 exp_ps(__m512 x) {
  x = _mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f));
  x = _mm512_max_ps(x, _mm512_set1_ps(-88.3762626647949f));
  __m512 fx = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f));
  fx = _mm512_roundscale_ps(fx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
  __m512i n = _mm512_cvttps_epi32(fx);
  n = _mm512_slli_epi32(_mm512_add_epi32(n, _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(n));
}

inline __mmask16 tail_mask(int64_t remaining) {
  return static_cast<__mmask16>((1u << remaining) - 1u);
}

float dot(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps();
  __m512 acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
  const __m512 va = _mm512_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 r =
        _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i));
    _mm512_mask_storeu_ps(y + i, m, r);
  }
}

void scale(float alpha, float* y, int64_t n) {
  const __m512 va = _mm512_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(va, _mm512_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] *= alpha;
}

float sum_squares(const float* x, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 a = _mm512_loadu_ps(x + i);
    acc = _mm512_fmadd_ps(a, a, acc);
  }
  if (i < n) {
    const __m512 a = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
    acc = _mm512_fmadd_ps(a, a, acc);
  }
  return _mm512_reduce_add_ps(acc);
}

void mul_scaled(const float* x, const float* w, float s, float* out, int64_t n) {
  const __m512 vs = _mm512_set1_ps(s);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + i), vs);
    _mm512_storeu_ps(out + i, _mm512_mul_ps(v, _mm512_loadu_ps(w + i)));
  }
  for (; i < n; ++i) out[i] = x[i] * s * w[i];
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 g = _mm512_loadu_ps(gate + i);
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), g));
    const __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, e));
    _mm512_storeu_ps(out + i, _mm512_mul_ps(s, _mm512_loadu_ps(up + i)));
  }
  for (; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

// As the AVX2 kernel: g / (1 + exp(-2u)) with a clamping exp.
void gelu_tanh_mul(const float* gate, const float* up, float* out, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 minus_two_scale = _mm512_set1_ps(-2.0f * kGeluTanhScale);
  const __m512 cubic = _mm512_set1_ps(kGeluTanhCubic);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 g = _mm512_loadu_ps(gate + i);
    const __m512 inner = _mm512_fmadd_ps(_mm512_mul_ps(cubic, g), _mm512_mul_ps(g, g), g);
    const __m512 e = exp_ps(_mm512_mul_ps(minus_two_scale, inner));
    const __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, e));
    _mm512_storeu_ps(out + i, _mm512_mul_ps(s, _mm512_loadu_ps(up + i)));
  }
  kernels_generic().gelu_tanh_mul(gate + i, up + i, out + i, n - i);
}

void add(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(out + i, _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
  }
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

void bf16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    const __m512i w = _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16);
    _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(w));
  }
  for (; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(src[i]) << 16;
    float value;
    __builtin_memcpy(&value, &bits, 4);
    dst[i] = value;
  }
}

inline uint16_t bf16_round(float value) {
  uint32_t bits;
  __builtin_memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

void f32_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i bias = _mm512_set1_epi32(0x7fff);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000);
  const __m512i quiet = _mm512_set1_epi32(0x40);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i bits = _mm512_castps_si512(_mm512_loadu_ps(src + i));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), one);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(bias, lsb)), 16);
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(bits, abs_mask), inf);
    r = _mm512_mask_blend_epi32(nan, r, _mm512_or_si512(_mm512_srli_epi32(bits, 16), quiet));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm512_cvtepi32_epi16(r));
  }
  for (; i < n; ++i) dst[i] = bf16_round(src[i]);
}

void f16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(
        dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
  }
  for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

void f32_to_f16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h =
        _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

void dequant_i8(const int8_t* q, const float* scales, int64_t group, int64_t k, float* out) {
  for (int64_t g0 = 0; g0 < k; g0 += group) {
    const float s = scales[g0 / group];
    const __m512 vs = _mm512_set1_ps(s);
    const int64_t end = g0 + group < k ? g0 + group : k;
    int64_t j = g0;
    for (; j + 16 <= end; j += 16) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + j));
      const __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
      _mm512_storeu_ps(out + j, _mm512_mul_ps(f, vs));
    }
    for (; j < end; ++j) out[j] = static_cast<float>(q[j]) * s;
  }
}

void dequant_i4(const uint8_t* q, const float* scales, int64_t group, int64_t k, float* out) {
  const __m128i low = _mm_set1_epi8(0x0f);
  const __m512i eight = _mm512_set1_epi32(8);
  for (int64_t g0 = 0; g0 < k; g0 += group) {
    const float s = scales[g0 / group];
    const __m512 vs = _mm512_set1_ps(s);
    const int64_t end = g0 + group < k ? g0 + group : k;
    int64_t j = g0;
    if (j % 2 == 0) {
      for (; j + 32 <= end; j += 32) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + j / 2));
        const __m128i lo = _mm_and_si128(b, low);
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), low);
        const __m512i v0 = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)), eight);
        const __m512i v1 = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_unpackhi_epi8(lo, hi)), eight);
        _mm512_storeu_ps(out + j, _mm512_mul_ps(_mm512_cvtepi32_ps(v0), vs));
        _mm512_storeu_ps(out + j + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(v1), vs));
      }
    }
    for (; j < end; ++j) {
      const uint8_t byte = q[j / 2];
      const int u = (j % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
      out[j] = static_cast<float>(u - 8) * s;
    }
  }
}

// Four keys per pass share the loads of q; one horizontal sum per key.
void scaled_dots(const float* q, const float* keys, int64_t n, int64_t dim, float scale,
                 float* out) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float* k0 = keys + i * dim;
    __m512 a0 = _mm512_setzero_ps();
    __m512 a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps();
    __m512 a3 = _mm512_setzero_ps();
    for (int64_t d = 0; d < dim; d += 16) {
      const __mmask16 m = dim - d >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(dim - d);
      const __m512 vq = _mm512_maskz_loadu_ps(m, q + d);
      a0 = _mm512_fmadd_ps(vq, _mm512_maskz_loadu_ps(m, k0 + d), a0);
      a1 = _mm512_fmadd_ps(vq, _mm512_maskz_loadu_ps(m, k0 + dim + d), a1);
      a2 = _mm512_fmadd_ps(vq, _mm512_maskz_loadu_ps(m, k0 + 2 * dim + d), a2);
      a3 = _mm512_fmadd_ps(vq, _mm512_maskz_loadu_ps(m, k0 + 3 * dim + d), a3);
    }
    out[i] = scale * _mm512_reduce_add_ps(a0);
    out[i + 1] = scale * _mm512_reduce_add_ps(a1);
    out[i + 2] = scale * _mm512_reduce_add_ps(a2);
    out[i + 3] = scale * _mm512_reduce_add_ps(a3);
  }
  for (; i < n; ++i) out[i] = scale * dot(q, keys + i * dim, dim);
}

float exp_shifted_sum(float* s, int64_t n, float shift) {
  const __m512 vshift = _mm512_set1_ps(shift);
  const __m512 min_normal = _mm512_set1_ps(std::numeric_limits<float>::min());
  __m512 sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    __m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + i), vshift));
    // Subnormal -> 0 (kernels.h); NaN compares false and is kept.
    e = _mm512_mask_mov_ps(e, _mm512_cmp_ps_mask(e, min_normal, _CMP_LT_OQ), _mm512_setzero_ps());
    _mm512_mask_storeu_ps(s + i, m, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(m, e));
  }
  return _mm512_reduce_add_ps(sum);
}

// acc stays in registers across the block's rows (the loops over registers are unrolled:
// GCC's -O2 would keep a[] on the stack, a store and reload per multiply-add), 64 floats of dim at
// a time.
void weighted_rows(const float* p, const float* rows, int64_t n, int64_t dim, float* acc) {
  for (int64_t d = 0; d < dim; d += 64) {
    __mmask16 m[4];
    __m512 a[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const int64_t left = dim - d - 16 * c;
      m[c] = left >= 16 ? static_cast<__mmask16>(0xffff)
             : left > 0 ? tail_mask(left)
                        : static_cast<__mmask16>(0);
      a[c] = _mm512_maskz_loadu_ps(m[c], acc + d + 16 * c);
    }
    for (int64_t i = 0; i < n; ++i) {
      const __m512 w = _mm512_set1_ps(p[i]);
      const float* row = rows + i * dim + d;
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        a[c] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m[c], row + 16 * c), a[c]);
      }
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) _mm512_mask_storeu_ps(acc + d + 16 * c, m[c], a[c]);
  }
}

// Eight query rows at a time: 8 independent accumulator chains, one 16-key vector each.
void transposed_scores(const float* q, int64_t rows, int64_t dim, const float* kt, float scale,
                       float* out) {
  const __m512 vscale = _mm512_set1_ps(scale);
  int64_t r = 0;
  for (; r + 8 <= rows; r += 8) {
    __m512 acc[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t d = 0; d < dim; ++d) {
      const __m512 k = _mm512_loadu_ps(kt + d * 16);
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(q[(r + j) * dim + d]), k, acc[j]);
      }
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) _mm512_storeu_ps(out + (r + j) * 16, _mm512_mul_ps(vscale, acc[j]));
  }
  for (; r < rows; ++r) {
    // Two chains over alternate elements, so the multiply-adds' latency overlaps.
    __m512 even = _mm512_setzero_ps(), odd = _mm512_setzero_ps();
    int64_t d = 0;
    for (; d + 2 <= dim; d += 2) {
      even = _mm512_fmadd_ps(_mm512_set1_ps(q[r * dim + d]), _mm512_loadu_ps(kt + d * 16), even);
      odd = _mm512_fmadd_ps(_mm512_set1_ps(q[r * dim + d + 1]), _mm512_loadu_ps(kt + d * 16 + 16),
                            odd);
    }
    if (d < dim) {
      even = _mm512_fmadd_ps(_mm512_set1_ps(q[r * dim + d]), _mm512_loadu_ps(kt + d * 16), even);
    }
    _mm512_storeu_ps(out + r * 16, _mm512_mul_ps(vscale, _mm512_add_ps(even, odd)));
  }
}

}  // namespace
}  // namespace tsr::cpu

#pragma GCC pop_options

namespace tsr::cpu {
const Kernels* kernels_avx512() {
  // The quantized dot products are the AVX2 ones (every AVX-512 CPU runs them): a 512-bit
  // version could not be run on the machines these kernels are developed on.
  static const Kernels* avx2 = kernels_avx2();
  const Kernels& generic = kernels_generic();
  const Kernels& fallback = avx2 != nullptr ? *avx2 : generic;
  static const Kernels table = {"avx512",        dot,           axpy,
                                scale,           sum_squares,   mul_scaled,
                                silu_mul,        add,           bf16_to_f32,
                                f32_to_bf16,     f16_to_f32,    f32_to_f16,
                                dequant_i8,      dequant_i4,    fallback.dot_i8,
                                fallback.dot_i4, scaled_dots,   exp_shifted_sum,
                                weighted_rows,   gelu_tanh_mul, transposed_scores};
  return &table;
}
}  // namespace tsr::cpu

#else
namespace tsr::cpu {
const Kernels* kernels_avx512() {
  return nullptr;
}
}  // namespace tsr::cpu
#endif

#pragma GCC diagnostic pop
