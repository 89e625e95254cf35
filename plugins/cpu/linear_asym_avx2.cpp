// AVX2 integer GEMV row for INT4_GROUP_ASYM (see linear_asym.h). Function-level target
// through the pragma, as kernels_avx2.cpp does, so nothing here leaks into generic code.
#include <immintrin.h>

#include <cstdint>

#include "linear_asym.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TSR_CPU_HAVE_ASYM_AVX2 1
#endif

#ifdef TSR_CPU_HAVE_ASYM_AVX2
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace tsr::cpu {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

// Elements 0..31 of one split-nibble block as unsigned bytes, in order.
inline __m256i unpack_block(const uint8_t* q) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(raw, mask);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
  return _mm256_set_m128i(hi, lo);
}

float dot_q8(const int8_t* xq, const float* xs, const uint8_t* q, const float* scales,
             int64_t group, int64_t k) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  const int64_t blocks = k / 32;
  int64_t b = 0;
  // Two blocks per iteration on independent accumulators.
  for (; b + 2 <= blocks; b += 2) {
    const __m256i p0 = _mm256_madd_epi16(
        _mm256_maddubs_epi16(unpack_block(q + b * 16),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + b * 32))),
        ones);
    const __m256i p1 = _mm256_madd_epi16(
        _mm256_maddubs_epi16(
            unpack_block(q + (b + 1) * 16),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + (b + 1) * 32))),
        ones);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(scales[b * 32 / group] * xs[b]), _mm256_cvtepi32_ps(p0),
                           acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(scales[(b + 1) * 32 / group] * xs[b + 1]),
                           _mm256_cvtepi32_ps(p1), acc1);
  }
  if (b < blocks) {
    const __m256i p = _mm256_madd_epi16(
        _mm256_maddubs_epi16(unpack_block(q + b * 16),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + b * 32))),
        ones);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(scales[b * 32 / group] * xs[b]), _mm256_cvtepi32_ps(p),
                           acc0);
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

}  // namespace
}  // namespace tsr::cpu

#pragma GCC pop_options

namespace tsr::cpu {
AsymDotQ8 asym_dot_q8_avx2() {
  return &dot_q8;
}
}  // namespace tsr::cpu

#else
namespace tsr::cpu {
AsymDotQ8 asym_dot_q8_avx2() {
  return nullptr;
}
}  // namespace tsr::cpu
#endif
