// AVX2 + FMA + F16C GEMV for float weights (see linear_half.h): blocks of 4 weight rows x up
// to 2 activation rows in 8 ymm accumulators; F16 widened with vcvtph2ps, BF16 with a shift,
// F32 loaded as is; the last k % 8 columns in scalar code. Function-level target, as in
// kernels_avx2.cpp.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "linear_half.h"
#include "tessera/plugin.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#define TSR_CPU_HAVE_HALF_AVX2 1
#endif

#ifdef TSR_CPU_HAVE_HALF_AVX2
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace tsr::cpu {
namespace {

constexpr int kBlockRows = 4;  // weight rows per block
constexpr int kChunkRows = 2;  // activation rows per pass over a block

template <FloatElem E>
using Elem = FloatElemType<E>;

template <FloatElem E>
inline __m256 widen8(const Elem<E>* p) {
  if constexpr (E == FloatElem::kF32) {
    return _mm256_loadu_ps(p);
  } else {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if constexpr (E == FloatElem::kBf16) {
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
    } else {
      return _mm256_cvtph_ps(raw);
    }
  }
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <FloatElem E, int R, int MC>
void block(const Elem<E>* w, int64_t k, const float* x, float* out, int64_t ldo) {
  __m256 acc[R][MC];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
    for (int i = 0; i < MC; ++i) acc[r][i] = _mm256_setzero_ps();
  }
  int64_t j = 0;
  for (; j + 8 <= k; j += 8) {
    __m256 xv[MC];
#pragma GCC unroll 2
    for (int i = 0; i < MC; ++i) xv[i] = _mm256_loadu_ps(x + i * k + j);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m256 wv = widen8<E>(w + r * k + j);
#pragma GCC unroll 2
      for (int i = 0; i < MC; ++i) acc[r][i] = _mm256_fmadd_ps(wv, xv[i], acc[r][i]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int i = 0; i < MC; ++i) {
      float sum = hsum(acc[r][i]);
      for (int64_t t = j; t < k; ++t) sum += widen_scalar<E>(w[r * k + t]) * x[i * k + t];
      out[i * ldo + r] = sum;
    }
  }
}

template <FloatElem E>
using BlockFn = void (*)(const Elem<E>*, int64_t, const float*, float*, int64_t);

template <FloatElem E>
BlockFn<E> block_fn(int64_t rows, int64_t mc) {
  const bool two = mc == 2;
  switch (rows) {
    case 1:
      return two ? &block<E, 1, 2> : &block<E, 1, 1>;
    case 2:
      return two ? &block<E, 2, 2> : &block<E, 2, 1>;
    case 3:
      return two ? &block<E, 3, 2> : &block<E, 3, 1>;
    default:
      return two ? &block<E, 4, 2> : &block<E, 4, 1>;
  }
}

template <FloatElem E>
void gemv(const Elem<E>* w, int64_t rows, int64_t k, const float* x, int64_t m, float* out,
          int64_t ldo) {
  for (int64_t r0 = 0; r0 < rows; r0 += kBlockRows) {
    const int64_t block_rows = std::min<int64_t>(kBlockRows, rows - r0);
    for (int64_t i0 = 0; i0 < m; i0 += kChunkRows) {
      const int64_t chunk = std::min<int64_t>(kChunkRows, m - i0);
      block_fn<E>(block_rows, chunk)(w + r0 * k, k, x + i0 * k, out + i0 * ldo + r0, ldo);
    }
  }
}

const HalfGemvKernels kAvx2{&gemv<FloatElem::kF16>, &gemv<FloatElem::kBf16>,
                            &gemv<FloatElem::kF32>};

}  // namespace

const HalfGemvKernels* half_gemv_avx2() {
  return &kAvx2;
}

}  // namespace tsr::cpu

#pragma GCC pop_options
#else
namespace tsr::cpu {
const HalfGemvKernels* half_gemv_avx2() {
  return nullptr;
}
}  // namespace tsr::cpu
#endif
