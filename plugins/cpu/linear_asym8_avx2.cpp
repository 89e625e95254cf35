// AVX2 integer kernels for INT8_GROUP_ASYM (see linear_asym8.h). Each weight block of 32 is
// unpacked once into 32 unsigned bytes and multiplied with up to kAsym8MaxRows activation rows
// by vpmaddubsw. 5-bit codes (<= 31) cannot saturate its int16 pair sums; full uint8 codes
// can (2 * 255 * 127 > 2^15), so those are split into u & 0x7f and the top bit, each product
// exact, recombined in int32. Function-level target through the pragma, as
// kernels_avx2.cpp does, so nothing here leaks into generic code.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

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

// 0xff in byte j where bit j of the 32-bit word at `bits` is set (ggml's bytes_from_bits_32).
inline __m256i bytes_from_bits(const uint8_t* bits) {
  uint32_t word;
  std::memcpy(&word, bits, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(word)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i probe = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_cmpeq_epi8(probe, _mm256_set1_epi64x(-1));
}

// Elements 0..31 of block b of a 5-bit row, in order.
inline __m256i unpack_5bit(const uint8_t* row, int64_t k, int64_t b) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + b * 16));
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m256i low4 =
      _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), mask), _mm_and_si128(raw, mask));
  const __m256i bit4 = _mm256_and_si256(bytes_from_bits(row + k / 2 + b * 4), _mm256_set1_epi8(16));
  return _mm256_or_si256(low4, bit4);
}

// sum over the block of u_j * x_j as 8 int32 lanes; u_j <= 127 or the top-bit split below.
inline __m256i block_dot_small(__m256i u, const int8_t* x) {
  const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, xv), _mm256_set1_epi16(1));
}

inline __m256i block_dot_uint8(__m256i low7, __m256i top, const int8_t* x) {
  const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  const __m256i lo = _mm256_madd_epi16(_mm256_maddubs_epi16(low7, xv), _mm256_set1_epi16(1));
  const __m256i hi = _mm256_madd_epi16(_mm256_maddubs_epi16(top, xv), _mm256_set1_epi16(128));
  return _mm256_add_epi32(lo, hi);
}

// One block b into the accumulators of kRows activation rows.
template <bool kFiveBit, int kRows>
__attribute__((always_inline)) inline void block_into(const int8_t* xq, const float* xs,
                                                      const uint8_t* q, const float* scales,
                                                      int64_t group, int64_t k, int64_t b,
                                                      __m256* acc) {
  const int64_t blocks = k / 32;
  const float scale = scales[b * 32 / group];
  __m256i u;
  __m256i top = _mm256_setzero_si256();
  if constexpr (kFiveBit) {
    u = unpack_5bit(q, k, b);
  } else {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + b * 32));
    u = _mm256_and_si256(raw, _mm256_set1_epi8(0x7f));
    top = _mm256_and_si256(_mm256_srli_epi16(raw, 7), _mm256_set1_epi8(1));
  }
  for (int i = 0; i < kRows; ++i) {
    const int8_t* x = xq + i * k + b * 32;
    __m256i sums;
    if constexpr (kFiveBit) {
      sums = block_dot_small(u, x);
    } else {
      sums = block_dot_uint8(u, top, x);
    }
    acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(scale * xs[i * blocks + b]), _mm256_cvtepi32_ps(sums),
                             acc[i]);
  }
}

// kRows is a compile-time count so that the accumulators stay in registers; two sets of them
// (even and odd blocks) keep two FMA chains in flight per row.
template <bool kFiveBit, int kRows>
void dot_fixed_rows(const int8_t* xq, const float* xs, const uint8_t* q, const float* scales,
                    int64_t group, int64_t k, float* out) {
  const int64_t blocks = k / 32;
  __m256 even[kRows], odd[kRows];
  for (int i = 0; i < kRows; ++i) even[i] = odd[i] = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    block_into<kFiveBit, kRows>(xq, xs, q, scales, group, k, b, even);
    block_into<kFiveBit, kRows>(xq, xs, q, scales, group, k, b + 1, odd);
  }
  if (b < blocks) block_into<kFiveBit, kRows>(xq, xs, q, scales, group, k, b, even);
  for (int i = 0; i < kRows; ++i) out[i] = hsum(_mm256_add_ps(even[i], odd[i]));
}

template <bool kFiveBit>
void dot_rows(const int8_t* xq, const float* xs, int64_t rows, const uint8_t* q,
              const float* scales, int64_t group, int64_t k, float* out) {
  static_assert(kAsym8MaxRows == 4, "dot_rows dispatches 1..4 rows");
  switch (rows) {
    case 1:
      return dot_fixed_rows<kFiveBit, 1>(xq, xs, q, scales, group, k, out);
    case 2:
      return dot_fixed_rows<kFiveBit, 2>(xq, xs, q, scales, group, k, out);
    case 3:
      return dot_fixed_rows<kFiveBit, 3>(xq, xs, q, scales, group, k, out);
    default:
      return dot_fixed_rows<kFiveBit, 4>(xq, xs, q, scales, group, k, out);
  }
}

}  // namespace
}  // namespace tsr::cpu

#pragma GCC pop_options

namespace tsr::cpu {
const Asym8Kernels* asym8_kernels_avx2() {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return nullptr;
  static const Asym8Kernels table = {"avx2", dot_rows<true>, dot_rows<false>};
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
