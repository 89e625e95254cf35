// AVX-512 (F/BW/DQ/VL) integer GEMV row for INT4_GROUP_ASYM (see linear_asym.h): two
// split-nibble blocks (64 weights) per 512-bit maddubs. Selected with the AVX-512 kernel set,
// which requires the same features. GCC 12's AVX-512 headers trip -Wmaybe-uninitialized when
// inlined (GCC bug 105593), silenced for this file as in kernels_avx512.cpp.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>

#include "linear_asym.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TSR_CPU_HAVE_ASYM_AVX512 1
#endif

#ifdef TSR_CPU_HAVE_ASYM_AVX512
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")

namespace tsr::cpu {
namespace {

float dot_q8(const int8_t* xq, const float* xs, const uint8_t* q, const float* scales,
             int64_t group, int64_t k) {
  const __m512i ones = _mm512_set1_epi16(1);
  const __m256i mask = _mm256_set1_epi8(0x0f);
  // Qword order that puts [lo(block 0), hi(block 0), lo(block 1), hi(block 1)] in sequence.
  const __m512i order = _mm512_set_epi64(7, 6, 3, 2, 5, 4, 1, 0);
  __m512 acc0 = _mm512_setzero_ps();
  __m512 acc1 = _mm512_setzero_ps();
  const int64_t blocks = k / 32;
  int64_t b = 0;
  auto pair = [&](int64_t first) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + first * 16));
    const __m256i lo = _mm256_and_si256(raw, mask);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
    const __m512i u =
        _mm512_permutexvar_epi64(order, _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
    const __m512i x = _mm512_loadu_si512(xq + first * 32);
    const __m512i sums = _mm512_madd_epi16(_mm512_maddubs_epi16(u, x), ones);
    const __m512 s =
        _mm512_insertf32x8(_mm512_set1_ps(scales[first * 32 / group] * xs[first]),
                           _mm256_set1_ps(scales[(first + 1) * 32 / group] * xs[first + 1]), 1);
    return _mm512_mul_ps(s, _mm512_cvtepi32_ps(sums));
  };
  for (; b + 4 <= blocks; b += 4) {
    acc0 = _mm512_add_ps(acc0, pair(b));
    acc1 = _mm512_add_ps(acc1, pair(b + 2));
  }
  for (; b + 2 <= blocks; b += 2) acc0 = _mm512_add_ps(acc0, pair(b));
  float total = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (b < blocks) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + b * 16));
    const __m128i m = _mm_set1_epi8(0x0f);
    const __m256i u =
        _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), m), _mm_and_si128(raw, m));
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + b * 32));
    const __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1));
    const __m256 f = _mm256_cvtepi32_ps(sums);
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
    r = _mm_hadd_ps(r, r);
    r = _mm_hadd_ps(r, r);
    total += scales[b * 32 / group] * xs[b] * _mm_cvtss_f32(r);
  }
  return total;
}

}  // namespace
}  // namespace tsr::cpu

#pragma GCC pop_options

namespace tsr::cpu {
AsymDotQ8 asym_dot_q8_avx512() {
  return &dot_q8;
}
}  // namespace tsr::cpu

#else
namespace tsr::cpu {
AsymDotQ8 asym_dot_q8_avx512() {
  return nullptr;
}
}  // namespace tsr::cpu
#endif

#pragma GCC diagnostic pop
