// AVX-512 GEMV for float weights (see linear_half.h): blocks of 4 weight rows x up to 4
// activation rows in 16 zmm accumulators; F16 widened with vcvtph2ps, BF16 with a shift, F32
// loaded as is.
// Selected with the AVX-512 kernel set, which requires the same features. GCC 12's AVX-512
// headers trip -Wmaybe-uninitialized when inlined (GCC bug 105593), silenced for this file as
// in kernels_avx512.cpp.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "linear_half.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TSR_CPU_HAVE_HALF_AVX512 1
#endif

#ifdef TSR_CPU_HAVE_HALF_AVX512
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")

namespace tsr::cpu {
namespace {

constexpr int kBlockRows = 4;  // weight rows per block
constexpr int kChunkRows = 4;  // activation rows per pass over a block

template <FloatElem E>
using Elem = FloatElemType<E>;

// 16 weights from p (the lanes of mask; the others 0) as f32.
template <FloatElem E>
inline __m512 widen16(const Elem<E>* p, __mmask16 mask) {
  if constexpr (E == FloatElem::kF32) {
    return _mm512_maskz_loadu_ps(mask, p);
  } else {
    const __m256i raw = _mm256_maskz_loadu_epi16(mask, p);
    if constexpr (E == FloatElem::kBf16) {
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
    } else {
      return _mm512_cvtph_ps(raw);
    }
  }
}

template <FloatElem E, int R, int MC>
void block(const Elem<E>* w, int64_t k, const float* x, float* out, int64_t ldo) {
  __m512 acc[R][MC];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int i = 0; i < MC; ++i) acc[r][i] = _mm512_setzero_ps();
  }
  auto step = [&](int64_t j, __mmask16 mask) {
    __m512 xv[MC];
#pragma GCC unroll 4
    for (int i = 0; i < MC; ++i) xv[i] = _mm512_maskz_loadu_ps(mask, x + i * k + j);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m512 wv = widen16<E>(w + r * k + j, mask);
#pragma GCC unroll 4
      for (int i = 0; i < MC; ++i) acc[r][i] = _mm512_fmadd_ps(wv, xv[i], acc[r][i]);
    }
  };
  int64_t j = 0;
  for (; j + 16 <= k; j += 16) step(j, static_cast<__mmask16>(0xffff));
  if (j < k) step(j, static_cast<__mmask16>((1u << (k - j)) - 1u));
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int i = 0; i < MC; ++i) out[i * ldo + r] = _mm512_reduce_add_ps(acc[r][i]);
  }
}

template <FloatElem E>
using BlockFn = void (*)(const Elem<E>*, int64_t, const float*, float*, int64_t);

template <FloatElem E, int R>
constexpr BlockFn<E> row_entry(int mc) {
  return mc == 1   ? &block<E, R, 1>
         : mc == 2 ? &block<E, R, 2>
         : mc == 3 ? &block<E, R, 3>
                   : &block<E, R, 4>;
}

template <FloatElem E>
BlockFn<E> block_fn(int64_t rows, int64_t mc) {
  const int c = static_cast<int>(mc);
  switch (rows) {
    case 1:
      return row_entry<E, 1>(c);
    case 2:
      return row_entry<E, 2>(c);
    case 3:
      return row_entry<E, 3>(c);
    default:
      return row_entry<E, 4>(c);
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

const HalfGemvKernels kAvx512{&gemv<FloatElem::kF16>, &gemv<FloatElem::kBf16>,
                              &gemv<FloatElem::kF32>};

}  // namespace

const HalfGemvKernels* half_gemv_avx512() {
  return &kAvx512;
}

}  // namespace tsr::cpu

#pragma GCC pop_options
#else
namespace tsr::cpu {
const HalfGemvKernels* half_gemv_avx512() {
  return nullptr;
}
}  // namespace tsr::cpu
#endif
#pragma GCC diagnostic pop
