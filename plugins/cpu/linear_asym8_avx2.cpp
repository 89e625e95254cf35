// AVX2 integer kernels for INT8_GROUP_ASYM rows of uint8 codes (see linear_asym8.h; 5-bit
// codes run in quant_tiles_avx2.cpp). Each weight block of 32 is loaded once and multiplied
// with up to kAsym8MaxRows activation rows by vpmaddubsw. Full uint8 codes could saturate its
// int16 pair sums (2 * 255 * 127 > 2^15), so they are split into u & 0x7f and the top bit,
// each product exact, recombined in int32. Function-level target through the pragma, as
// kernels_avx2.cpp does, so nothing here leaks into generic code.
#include <immintrin.h>

#include <cstdint>

#include "linear_asym8.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TSR_CPU_HAVE_ASYM8_AVX2 1
#endif

#ifdef TSR_CPU_HAVE_ASYM8_AVX2
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

inline __m256i block_dot_uint8(__m256i low7, __m256i top, const int8_t* x) {
  const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  const __m256i lo = _mm256_madd_epi16(_mm256_maddubs_epi16(low7, xv), _mm256_set1_epi16(1));
  const __m256i hi = _mm256_madd_epi16(_mm256_maddubs_epi16(top, xv), _mm256_set1_epi16(128));
  return _mm256_add_epi32(lo, hi);
}

// One block b into the accumulators of kRows activation rows.
template <int kRows>
__attribute__((always_inline)) inline void block_into(const int8_t* xq, const float* xs,
                                                      const uint8_t* q, const float* scales,
                                                      int64_t group, int64_t k, int64_t b,
                                                      __m256* acc) {
  const int64_t blocks = k / 32;
  const float scale = scales[b * 32 / group];
  const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + b * 32));
  const __m256i u = _mm256_and_si256(raw, _mm256_set1_epi8(0x7f));
  const __m256i top = _mm256_and_si256(_mm256_srli_epi16(raw, 7), _mm256_set1_epi8(1));
  for (int i = 0; i < kRows; ++i) {
    const int8_t* x = xq + i * k + b * 32;
    const __m256i sums = block_dot_uint8(u, top, x);
    acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(scale * xs[i * blocks + b]), _mm256_cvtepi32_ps(sums),
                             acc[i]);
  }
}

// kRows is a compile-time count so that the accumulators stay in registers; two sets of them
// (even and odd blocks) keep two FMA chains in flight per row.
template <int kRows>
void dot_fixed_rows(const int8_t* xq, const float* xs, const uint8_t* q, const float* scales,
                    int64_t group, int64_t k, float* out) {
  const int64_t blocks = k / 32;
  __m256 even[kRows], odd[kRows];
  for (int i = 0; i < kRows; ++i) even[i] = odd[i] = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    block_into<kRows>(xq, xs, q, scales, group, k, b, even);
    block_into<kRows>(xq, xs, q, scales, group, k, b + 1, odd);
  }
  if (b < blocks) block_into<kRows>(xq, xs, q, scales, group, k, b, even);
  for (int i = 0; i < kRows; ++i) out[i] = hsum(_mm256_add_ps(even[i], odd[i]));
}

void dot_rows(const int8_t* xq, const float* xs, int64_t rows, const uint8_t* q,
              const float* scales, int64_t group, int64_t k, float* out) {
  static_assert(kAsym8MaxRows == 4, "dot_rows dispatches 1..4 rows");
  switch (rows) {
    case 1:
      return dot_fixed_rows<1>(xq, xs, q, scales, group, k, out);
    case 2:
      return dot_fixed_rows<2>(xq, xs, q, scales, group, k, out);
    case 3:
      return dot_fixed_rows<3>(xq, xs, q, scales, group, k, out);
    default:
      return dot_fixed_rows<4>(xq, xs, q, scales, group, k, out);
  }
}

}  // namespace
}  // namespace tsr::cpu

#pragma GCC pop_options

namespace tsr::cpu {
const Asym8Kernels* asym8_kernels_avx2() {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return nullptr;
  static const Asym8Kernels table = {"avx2", dot_rows};
  return &table;
}
}  // namespace tsr::cpu

#else
namespace tsr::cpu {
const Asym8Kernels* asym8_kernels_avx2() {
  return nullptr;
}
}  // namespace tsr::cpu
#endif
