// AVX-512 VNNI integer kernels for INT8_GROUP_ASYM rows of uint8 codes (see linear_asym8.h;
// 5-bit codes run in quant_tiles_avx512.cpp): two weight blocks (64 codes) per 512-bit
// vpdpbusd, which multiplies unsigned codes by signed activations and sums in int32 without
// saturating, so full uint8 codes need no split. Loaded once, each pair is multiplied with up
// to kAsym8MaxRows activation rows. Selected with the AVX-512 kernel set when the CPU has
// avx512_vnni (else the AVX2 kernels run). GCC 12's AVX-512 headers trip
// -Wmaybe-uninitialized when inlined (GCC bug 105593), silenced here as in kernels_avx512.cpp.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>

#include "linear_asym8.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TSR_CPU_HAVE_ASYM8_VNNI 1
#endif

#ifdef TSR_CPU_HAVE_ASYM8_VNNI
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")

namespace tsr::cpu {
namespace {

inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

// Blocks b and b + 1 into the accumulators of kRows activation rows.
template <int kRows>
__attribute__((always_inline)) inline void pair_into(const int8_t* xq, const float* xs,
                                                     const uint8_t* q, const float* scales,
                                                     int64_t group, int64_t k, int64_t b,
                                                     __m512* acc) {
  const int64_t blocks = k / 32;
  const __m512i u = _mm512_loadu_si512(reinterpret_cast<const __m512i*>(q + b * 32));
  const float s0 = scales[b * 32 / group];
  const float s1 = scales[(b + 1) * 32 / group];
  for (int i = 0; i < kRows; ++i) {
    const float* xsi = xs + i * blocks;
    const __m512i x = _mm512_loadu_si512(xq + i * k + b * 32);
    const __m512i sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, x);
    const __m512 s =
        _mm512_insertf32x8(_mm512_set1_ps(s0 * xsi[b]), _mm256_set1_ps(s1 * xsi[b + 1]), 1);
    acc[i] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(sums), acc[i]);
  }
}

// kRows is a compile-time count so that the accumulators stay in registers; two sets of them
// (alternate block pairs) keep two FMA chains in flight per row.
template <int kRows>
void dot_fixed_rows(const int8_t* xq, const float* xs, const uint8_t* q, const float* scales,
                    int64_t group, int64_t k, float* out) {
  const int64_t blocks = k / 32;
  __m512 even[kRows], odd[kRows];
  for (int i = 0; i < kRows; ++i) even[i] = odd[i] = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 4 <= blocks; b += 4) {
    pair_into<kRows>(xq, xs, q, scales, group, k, b, even);
    pair_into<kRows>(xq, xs, q, scales, group, k, b + 2, odd);
  }
  if (b + 2 <= blocks) {
    pair_into<kRows>(xq, xs, q, scales, group, k, b, even);
    b += 2;
  }
  for (int i = 0; i < kRows; ++i) out[i] = _mm512_reduce_add_ps(_mm512_add_ps(even[i], odd[i]));
  if (b < blocks) {  // the odd last block
    const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + b * 32));
    const float s = scales[b * 32 / group];
    for (int i = 0; i < kRows; ++i) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + i * k + b * 32));
      const __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, x);
      out[i] += s * xs[i * blocks + b] * hsum256(_mm256_cvtepi32_ps(sums));
    }
  }
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
const Asym8Kernels* asym8_kernels_avx512_vnni() {
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
      !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512vnni")) {
    return nullptr;
  }
  static const Asym8Kernels table = {"avx512-vnni", dot_rows};
  return &table;
}
}  // namespace tsr::cpu

#else
namespace tsr::cpu {
const Asym8Kernels* asym8_kernels_avx512_vnni() {
  return nullptr;
}
}  // namespace tsr::cpu
#endif

#pragma GCC diagnostic pop
