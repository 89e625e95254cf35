// The AVX2 + FMA + F16C kernel set. Function-level target attributes (through the GCC
// target pragma below) rather than per-file -mavx2, so no inline function from a shared
// header is ever compiled for AVX2 and merged into generic code paths (which would SIGILL
// on older CPUs). Only intrinsics and plain loops live inside the pragma region.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TSR_CPU_HAVE_AVX2_KERNELS 1
#endif

#ifdef TSR_CPU_HAVE_AVX2_KERNELS
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace tsr::cpu {
namespace {

inline float hsum(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v);
  const __m128 hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

// exp(x) for f32 lanes: Cephes-style range reduction and a degree-5 polynomial (about
// 2 ulp over the clamped range; results saturate outside ±88.37).
inline __m256 exp_ps(__m256 x) {
  x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
  x = _mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f));
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i n = _mm256_cvttps_epi32(fx);
  n = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
}

float dot(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  float acc = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += alpha * x[i];
}

void scale(float alpha, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] *= alpha;
}

float sum_squares(const float* x, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i);
    const __m256 b = _mm256_loadu_ps(x + i + 8);
    acc0 = _mm256_fmadd_ps(a, a, acc0);
    acc1 = _mm256_fmadd_ps(b, b, acc1);
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_loadu_ps(x + i);
    acc0 = _mm256_fmadd_ps(a, a, acc0);
  }
  float acc = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) acc += x[i] * x[i];
  return acc;
}

void mul_scaled(const float* x, const float* w, float s, float* out, int64_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(v, _mm256_loadu_ps(w + i)));
  }
  for (; i < n; ++i) out[i] = x[i] * s * w[i];
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = exp_ps(_mm256_xor_ps(g, sign));
    const __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

// gelu_tanh(g) = g / (1 + exp(-2u)), u = sqrt(2/pi) (g + 0.044715 g^3); exp_ps clamps its
// argument, so large |g| gives g or -0 rather than NaN.
void gelu_tanh_mul(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 minus_two_scale = _mm256_set1_ps(-2.0f * kGeluTanhScale);
  const __m256 cubic = _mm256_set1_ps(kGeluTanhCubic);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 inner = _mm256_fmadd_ps(_mm256_mul_ps(cubic, g), _mm256_mul_ps(g, g), g);
    const __m256 e = exp_ps(_mm256_mul_ps(minus_two_scale, inner));
    const __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
  }
  kernels_generic().gelu_tanh_mul(gate + i, up + i, out + i, n - i);
}

void add(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  }
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

void bf16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(w));
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
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i bias = _mm256_set1_epi32(0x7fff);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf = _mm256_set1_epi32(0x7f800000);
  const __m256i quiet = _mm256_set1_epi32(0x40);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i bits = _mm256_castps_si256(_mm256_loadu_ps(src + i));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), one);
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(bias, lsb)), 16);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, abs_mask), inf);
    const __m256i nan_value = _mm256_or_si256(_mm256_srli_epi32(bits, 16), quiet);
    r = _mm256_blendv_epi8(r, nan_value, nan);
    const __m128i packed =
        _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), packed);
  }
  for (; i < n; ++i) dst[i] = bf16_round(src[i]);
}

void f16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  }
  for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

void f32_to_f16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h =
        _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

void dequant_i8(const int8_t* q, const float* scales, int64_t group, int64_t k, float* out) {
  for (int64_t g0 = 0; g0 < k; g0 += group) {
    const float s = scales[g0 / group];
    const __m256 vs = _mm256_set1_ps(s);
    const int64_t end = g0 + group < k ? g0 + group : k;
    int64_t j = g0;
    for (; j + 8 <= end; j += 8) {
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + j));
      const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
      _mm256_storeu_ps(out + j, _mm256_mul_ps(f, vs));
    }
    for (; j < end; ++j) out[j] = static_cast<float>(q[j]) * s;
  }
}

void dequant_i4(const uint8_t* q, const float* scales, int64_t group, int64_t k, float* out) {
  const __m128i low = _mm_set1_epi8(0x0f);
  const __m256i eight = _mm256_set1_epi32(8);
  for (int64_t g0 = 0; g0 < k; g0 += group) {
    const float s = scales[g0 / group];
    const __m256 vs = _mm256_set1_ps(s);
    const int64_t end = g0 + group < k ? g0 + group : k;
    int64_t j = g0;
    if (j % 2 == 0) {
      for (; j + 32 <= end; j += 32) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + j / 2));
        const __m128i lo = _mm_and_si128(b, low);
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), low);
        const __m128i e0 = _mm_unpacklo_epi8(lo, hi);
        const __m128i e1 = _mm_unpackhi_epi8(lo, hi);
        const __m128i parts[4] = {e0, _mm_srli_si128(e0, 8), e1, _mm_srli_si128(e1, 8)};
        for (int p = 0; p < 4; ++p) {
          const __m256i v = _mm256_sub_epi32(_mm256_cvtepu8_epi32(parts[p]), eight);
          _mm256_storeu_ps(out + j + 8 * p, _mm256_mul_ps(_mm256_cvtepi32_ps(v), vs));
        }
      }
    }
    for (; j < end; ++j) {
      const uint8_t byte = q[j / 2];
      const int u = (j % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
      out[j] = static_cast<float>(u - 8) * s;
    }
  }
}

float dot_i8(const float* x, const int8_t* q, const float* scales, int64_t group, int64_t k) {
  __m256 total = _mm256_setzero_ps();
  float tail = 0.0f;
  for (int64_t g0 = 0; g0 < k; g0 += group) {
    const int64_t end = g0 + group < k ? g0 + group : k;
    const float s = scales[g0 / group];
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    int64_t j = g0;
    for (; j + 16 <= end; j += 16) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + j));
      const __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
      const __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)));
      acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + j), acc0);
      acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + j + 8), acc1);
    }
    for (; j + 8 <= end; j += 8) {
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + j));
      acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)), _mm256_loadu_ps(x + j),
                             acc0);
    }
    float rest = 0.0f;
    for (; j < end; ++j) rest += x[j] * static_cast<float>(q[j]);
    total = _mm256_fmadd_ps(_mm256_add_ps(acc0, acc1), _mm256_set1_ps(s), total);
    tail += rest * s;
  }
  return hsum(total) + tail;
}

float dot_i4(const float* x, const uint8_t* q, const float* scales, int64_t group, int64_t k) {
  const __m128i low = _mm_set1_epi8(0x0f);
  const __m256 eight = _mm256_set1_ps(8.0f);
  __m256 total = _mm256_setzero_ps();
  float tail = 0.0f;
  for (int64_t g0 = 0; g0 < k; g0 += group) {
    const int64_t end = g0 + group < k ? g0 + group : k;
    const float s = scales[g0 / group];
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    // (u - 8) . x = u . x - 8 * sum(x): the nibbles convert without a subtraction each.
    __m256 xsum = _mm256_setzero_ps();
    int64_t j = g0;
    if (j % 2 == 0) {
      for (; j + 32 <= end; j += 32) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + j / 2));
        const __m128i lo = _mm_and_si128(b, low);
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), low);
        const __m128i e0 = _mm_unpacklo_epi8(lo, hi);  // elements j .. j + 15
        const __m128i e1 = _mm_unpackhi_epi8(lo, hi);  // elements j + 16 .. j + 31
        const __m256 x0 = _mm256_loadu_ps(x + j);
        const __m256 x1 = _mm256_loadu_ps(x + j + 8);
        const __m256 x2 = _mm256_loadu_ps(x + j + 16);
        const __m256 x3 = _mm256_loadu_ps(x + j + 24);
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(e0)), x0, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(e0, 8))), x1,
                               acc1);
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(e1)), x2, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(e1, 8))), x3,
                               acc1);
        xsum = _mm256_add_ps(_mm256_add_ps(xsum, _mm256_add_ps(x0, x1)), _mm256_add_ps(x2, x3));
      }
    }
    float rest = 0.0f;
    for (; j < end; ++j) {
      const uint8_t byte = q[j / 2];
      const int u = (j % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
      rest += x[j] * static_cast<float>(u - 8);
    }
    const __m256 acc = _mm256_fnmadd_ps(eight, xsum, _mm256_add_ps(acc0, acc1));
    total = _mm256_fmadd_ps(acc, _mm256_set1_ps(s), total);
    tail += rest * s;
  }
  return hsum(total) + tail;
}

// Lanes of a partial 8-float vector: the first `left` (1..7) set.
inline __m256i tail_mask8(int64_t left) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Four keys per pass share the loads of q; one horizontal sum per key.
void scaled_dots(const float* q, const float* keys, int64_t n, int64_t dim, float scale,
                 float* out) {
  const int64_t body = dim / 8 * 8;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float* k0 = keys + i * dim;
    __m256 a0 = _mm256_setzero_ps();
    __m256 a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps();
    __m256 a3 = _mm256_setzero_ps();
    for (int64_t d = 0; d < body; d += 8) {
      const __m256 vq = _mm256_loadu_ps(q + d);
      a0 = _mm256_fmadd_ps(vq, _mm256_loadu_ps(k0 + d), a0);
      a1 = _mm256_fmadd_ps(vq, _mm256_loadu_ps(k0 + dim + d), a1);
      a2 = _mm256_fmadd_ps(vq, _mm256_loadu_ps(k0 + 2 * dim + d), a2);
      a3 = _mm256_fmadd_ps(vq, _mm256_loadu_ps(k0 + 3 * dim + d), a3);
    }
    float r[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
    for (int64_t d = body; d < dim; ++d) {
      for (int j = 0; j < 4; ++j) r[j] += q[d] * k0[j * dim + d];
    }
    for (int j = 0; j < 4; ++j) out[i + j] = scale * r[j];
  }
  for (; i < n; ++i) out[i] = scale * dot(q, keys + i * dim, dim);
}

float exp_shifted_sum(float* s, int64_t n, float shift) {
  const __m256 vshift = _mm256_set1_ps(shift);
  const __m256 min_normal = _mm256_set1_ps(std::numeric_limits<float>::min());
  __m256 sum = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = n - i >= 8 ? _mm256_set1_epi32(-1) : tail_mask8(n - i);
    __m256 e = exp_ps(_mm256_sub_ps(_mm256_maskload_ps(s + i, m), vshift));
    e = _mm256_andnot_ps(_mm256_cmp_ps(e, min_normal, _CMP_LT_OQ), e);  // subnormal -> 0
    _mm256_maskstore_ps(s + i, m, e);
    sum = _mm256_add_ps(sum, _mm256_and_ps(e, _mm256_castsi256_ps(m)));
  }
  return hsum(sum);
}

// acc stays in registers across the block's rows (the loops over registers are unrolled:
// GCC's -O2 would keep a[] on the stack, a store and reload per multiply-add), 32 floats of dim at
// a time.
void weighted_rows(const float* p, const float* rows, int64_t n, int64_t dim, float* acc) {
  for (int64_t d = 0; d < dim; d += 32) {
    __m256i m[4];
    __m256 a[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const int64_t left = dim - d - 8 * c;
      m[c] = left >= 8  ? _mm256_set1_epi32(-1)
             : left > 0 ? tail_mask8(left)
                        : _mm256_setzero_si256();
      a[c] = _mm256_maskload_ps(acc + d + 8 * c, m[c]);
    }
    for (int64_t i = 0; i < n; ++i) {
      const __m256 w = _mm256_set1_ps(p[i]);
      const float* row = rows + i * dim + d;
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        a[c] = _mm256_fmadd_ps(w, _mm256_maskload_ps(row + 8 * c, m[c]), a[c]);
      }
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) _mm256_maskstore_ps(acc + d + 8 * c, m[c], a[c]);
  }
}

// Four query rows at a time: 8 independent accumulator chains (two 8-key halves each).
void transposed_scores(const float* q, int64_t rows, int64_t dim, const float* kt, float scale,
                       float* out) {
  const __m256 vscale = _mm256_set1_ps(scale);
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    __m256 lo[4], hi[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) lo[j] = hi[j] = _mm256_setzero_ps();
    for (int64_t d = 0; d < dim; ++d) {
      const __m256 k0 = _mm256_loadu_ps(kt + d * 16);
      const __m256 k1 = _mm256_loadu_ps(kt + d * 16 + 8);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const __m256 v = _mm256_broadcast_ss(q + (r + j) * dim + d);
        lo[j] = _mm256_fmadd_ps(v, k0, lo[j]);
        hi[j] = _mm256_fmadd_ps(v, k1, hi[j]);
      }
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      _mm256_storeu_ps(out + (r + j) * 16, _mm256_mul_ps(vscale, lo[j]));
      _mm256_storeu_ps(out + (r + j) * 16 + 8, _mm256_mul_ps(vscale, hi[j]));
    }
  }
  for (; r < rows; ++r) {
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int64_t d = 0; d < dim; ++d) {
      const __m256 v = _mm256_broadcast_ss(q + r * dim + d);
      lo = _mm256_fmadd_ps(v, _mm256_loadu_ps(kt + d * 16), lo);
      hi = _mm256_fmadd_ps(v, _mm256_loadu_ps(kt + d * 16 + 8), hi);
    }
    _mm256_storeu_ps(out + r * 16, _mm256_mul_ps(vscale, lo));
    _mm256_storeu_ps(out + r * 16 + 8, _mm256_mul_ps(vscale, hi));
  }
}

}  // namespace
}  // namespace tsr::cpu

#pragma GCC pop_options

namespace tsr::cpu {
const Kernels* kernels_avx2() {
  static const Kernels table = {"avx2",        dot,           axpy,
                                scale,         sum_squares,   mul_scaled,
                                silu_mul,      add,           bf16_to_f32,
                                f32_to_bf16,   f16_to_f32,    f32_to_f16,
                                dequant_i8,    dequant_i4,    dot_i8,
                                dot_i4,        scaled_dots,   exp_shifted_sum,
                                weighted_rows, gelu_tanh_mul, transposed_scores};
  return &table;
}
}  // namespace tsr::cpu

#else
namespace tsr::cpu {
const Kernels* kernels_avx2() {
  return nullptr;
}
}  // namespace tsr::cpu
#endif
