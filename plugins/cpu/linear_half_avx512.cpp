// AVX-512 GEMV for 16-bit weights (see linear_half.h): blocks of 4 weight rows x up to 4
// activation rows in 16 zmm accumulators; F16 widened with vcvtph2ps, BF16 with a shift.
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

template <bool kBf16>
inline __m512 widen16(__m256i raw) {
  if constexpr (kBf16) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
  } else {
    return _mm512_cvtph_ps(raw);
  }
}

template <bool kBf16, int R, int MC>
void block(const uint16_t* w, int64_t k, const float* x, float* out, int64_t ldo) {
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
      const __m512 wv = widen16<kBf16>(_mm256_maskz_loadu_epi16(mask, w + r * k + j));
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

using BlockFn = void (*)(const uint16_t*, int64_t, const float*, float*, int64_t);

template <bool kBf16, int R>
constexpr BlockFn row_entry(int mc) {
  return mc == 1   ? &block<kBf16, R, 1>
         : mc == 2 ? &block<kBf16, R, 2>
         : mc == 3 ? &block<kBf16, R, 3>
                   : &block<kBf16, R, 4>;
}

template <bool kBf16>
BlockFn block_fn(int64_t rows, int64_t mc) {
  const int c = static_cast<int>(mc);
  switch (rows) {
    case 1:
      return row_entry<kBf16, 1>(c);
    case 2:
      return row_entry<kBf16, 2>(c);
    case 3:
      return row_entry<kBf16, 3>(c);
    default:
      return row_entry<kBf16, 4>(c);
  }
}

template <bool kBf16>
void gemv(const uint16_t* w, int64_t rows, int64_t k, const float* x, int64_t m, float* out,
          int64_t ldo) {
  for (int64_t r0 = 0; r0 < rows; r0 += kBlockRows) {
    const int64_t block_rows = std::min<int64_t>(kBlockRows, rows - r0);
    for (int64_t i0 = 0; i0 < m; i0 += kChunkRows) {
      const int64_t chunk = std::min<int64_t>(kChunkRows, m - i0);
      block_fn<kBf16>(block_rows, chunk)(w + r0 * k, k, x + i0 * k, out + i0 * ldo + r0, ldo);
    }
  }
}

const HalfGemvKernels kAvx512{&gemv<false>, &gemv<true>};

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
