// BF16 weights on AMX-BF16 tiles for prefill-sized calls (see linear_half.h).
//
// Why: a 16-bit weight's prefill otherwise widens tiles of rows to f32 and runs oneDNN's
// sgemm, at most 32 f32 FMA per cycle per core on AVX-512; one tdpbf16ps does 16 x 16 x 32
// bf16 products into f32 sums.
//
// Operands: the weight is the first operand as it is stored (16 rows of 32 bf16 per tile,
// row stride 2k bytes: no copy and no second layout); the activations are the second, packed
// per call into AMX's pair layout (row p of a 16-column chunk holds, for each of 16
// activation rows, elements 2p and 2p + 1). So a tile product is C[weight row][activation
// row], transposed back when stored.
//
// Precision: the activations are f32. Each is split as x = hi + lo, hi = bf16(x) and lo =
// bf16(x - hi) (both round to nearest even), and both halves are multiplied: |x - hi - lo| <=
// 2^-18 |x|, and bf16 x bf16 products are exact in f32. The sums are f32 (two products per
// step, round to nearest even; denormals are flushed, as AMX always does), 2k additions deep,
// so |y - exact| <= (gamma_2k + 2^-18) sum_j |x_j w_j| (tests/cpu_plugin/linear_half_test.cpp).
// When every lo is zero (activations that are bf16 values, as with --dtype bfloat16) the lo
// products are skipped. A non-finite activation makes the call take the sgemm path, which
// carries Inf and NaN as f32 arithmetic does.
//
// Linux grants the tile state per process on request (quant_tiles_amx.cpp asks; this file
// asks through the same function).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "linear_half.h"
#include "parallel.h"
#include "quant_tiles.h"

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#define TSR_CPU_HAVE_AMX_BF16 1
#include <cpuid.h>
#endif

#ifdef TSR_CPU_HAVE_AMX_BF16
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,amx-tile,amx-bf16")

namespace tsr::cpu {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Eight tiles of 16 rows x 64 bytes: sums 0..3 (weight block w, activation block a at 2w + a),
// weight rows 4, 5 and activation pairs 6, 7.
TileConfig make_config() {
  TileConfig c;
  for (int t = 0; t < 8; ++t) {
    c.rows[t] = 16;
    c.colsb[t] = 64;
  }
  return c;
}
const TileConfig kConfig = make_config();

// Activation rows per chunk (a tile's columns) and values per tile row.
constexpr int64_t kChunk = 16;
constexpr int64_t kStep = 32;

// f32 -> bf16, round to nearest even (finite values; the caller checked).
inline __m512i round_bf16(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7fff)), odd);
  return _mm512_srli_epi32(rounded, 16);
}

// Chunk c of the activations (rows 16c..16c+15, zero past m) as hi and lo pair tiles:
// packed[c * 32k + h * 16k + p * 32 + 2j + e] = half h of x[16c + j][2p + e]. Returns false
// on a non-finite value; sets *any_lo when a lo half is nonzero.
bool pack_chunk(const float* x, int64_t m, int64_t k, int64_t c, uint16_t* packed, bool* any_lo) {
  uint16_t* hi = packed + c * 32 * k;
  uint16_t* lo = hi + 16 * k;
  const __m512i lanes =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(kChunk));
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512 largest = _mm512_set1_ps(3.402823466e38f);
  __mmask16 lo_seen = 0;
  for (int64_t j = 0; j < kChunk; ++j) {
    const int64_t row = c * kChunk + j;
    // Pairs as 32-bit units: pair p of row j goes to unit p * 16 + j of its half.
    auto* hi_units = reinterpret_cast<int32_t*>(hi) + j;
    auto* lo_units = reinterpret_cast<int32_t*>(lo) + j;
    for (int64_t p0 = 0; p0 < k / 2; p0 += 16) {
      __m512i hi_pairs = _mm512_setzero_si512();
      __m512i lo_pairs = _mm512_setzero_si512();
      if (row < m) {
        const float* src = x + row * k + 2 * p0;
        const __m512 a = _mm512_loadu_ps(src);       // pairs p0..p0+7
        const __m512 b = _mm512_loadu_ps(src + 16);  // pairs p0+8..p0+15
        // NaN compares false, so it counts as non-finite too.
        if (_mm512_cmp_ps_mask(_mm512_and_ps(a, abs_mask), largest, _CMP_LE_OQ) != 0xffff ||
            _mm512_cmp_ps_mask(_mm512_and_ps(b, abs_mask), largest, _CMP_LE_OQ) != 0xffff) {
          return false;
        }
        const __m512i ha = round_bf16(a);
        const __m512i hb = round_bf16(b);
        const __m512i la =
            round_bf16(_mm512_sub_ps(a, _mm512_castsi512_ps(_mm512_slli_epi32(ha, 16))));
        const __m512i lb =
            round_bf16(_mm512_sub_ps(b, _mm512_castsi512_ps(_mm512_slli_epi32(hb, 16))));
        lo_seen |= _mm512_test_epi32_mask(la, la) | _mm512_test_epi32_mask(lb, lb);
        // 32 bf16 in order (a's 16 then b's 16), i.e. 16 pairs: narrow each 32-bit lane to
        // 16 bits and concatenate.
        hi_pairs = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(ha)),
                                      _mm512_cvtepi32_epi16(hb), 1);
        lo_pairs = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(la)),
                                      _mm512_cvtepi32_epi16(lb), 1);
      }
      _mm512_i32scatter_epi32(hi_units + p0 * kChunk, lanes, hi_pairs, 4);
      _mm512_i32scatter_epi32(lo_units + p0 * kChunk, lanes, lo_pairs, 4);
    }
  }
  if (lo_seen != 0) *any_lo = true;
  return true;
}

// Sum tile `sums` (C[weight row i][activation row j], 16 x 16 f32) into out rows a0.. (< m)
// and columns n0..n0+15.
inline void store_transposed(const float (*sums)[16], float* out, int64_t ldo, int64_t a0,
                             int64_t m, int64_t n0) {
  const __m512i column =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(16));
  const int64_t rows = std::min<int64_t>(kChunk, m - a0);
  for (int64_t j = 0; j < rows; ++j) {
    _mm512_storeu_ps(out + (a0 + j) * ldo + n0, _mm512_i32gather_ps(column, &sums[0][j], 4));
  }
}

// Weight rows n0..n0+31 against activation chunks c and c + 1: four 16 x 16 sums over all
// of K, stored transposed into out.
void block_pair(const uint16_t* w, int64_t k, int64_t n0, const uint16_t* packed, int64_t c,
                bool with_lo, float* out, int64_t ldo, int64_t m) {
  alignas(64) float sums[4][16][16];
  const int64_t stride = 2 * k;  // bytes between weight rows
  const uint16_t* b0 = packed + c * 32 * k;
  const uint16_t* b1 = b0 + 32 * k;  // the chunk count is even (padded)
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t kk = 0; kk < k; kk += kStep) {
    _tile_loadd(4, w + n0 * k + kk, stride);
    _tile_loadd(5, w + (n0 + 16) * k + kk, stride);
    _tile_loadd(6, b0 + kk * kChunk, 64);
    _tile_loadd(7, b1 + kk * kChunk, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
    if (with_lo) {
      _tile_loadd(6, b0 + 16 * k + kk * kChunk, 64);
      _tile_loadd(7, b1 + 16 * k + kk * kChunk, 64);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, sums[0], 64);
  _tile_stored(1, sums[1], 64);
  _tile_stored(2, sums[2], 64);
  _tile_stored(3, sums[3], 64);
  for (int t = 0; t < 4; ++t) {
    const int64_t a0 = (c + t % 2) * kChunk;
    if (a0 < m) store_transposed(sums[t], out, ldo, a0, m, n0 + (t / 2) * 16);
  }
}

}  // namespace

bool bf16_amx_gemm(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t m, float* out) {
  if (n % 32 != 0 || k % kStep != 0 || !amx_bf16_usable()) return false;
  const int64_t chunks = (m + 2 * kChunk - 1) / (2 * kChunk) * 2;  // even: pairs of chunks
  thread_local std::vector<uint16_t> buffer;
  buffer.resize(static_cast<size_t>(chunks * 32 * k));
  uint16_t* packed = buffer.data();
  std::atomic<bool> finite{true};
  std::atomic<bool> any_lo{false};
  parallel_for(
      chunks,
      [&](int64_t c) {
        bool lo = false;
        if (!pack_chunk(x, m, k, c, packed, &lo)) finite.store(false, std::memory_order_relaxed);
        if (lo) any_lo.store(true, std::memory_order_relaxed);
      },
      m * k > kParallelGrain);
  if (!finite.load()) return false;
  const bool with_lo = any_lo.load();
  // A work item is kGroupBlocks blocks of 32 weight rows (256 rows: 1 MiB at K = 2048, kept in
  // L2) run against every chunk pair, so the packed activations are re-read once per 256
  // weight rows, not once per 32.
  constexpr int64_t kGroupBlocks = 8;
  const int64_t blocks = n / 32;
  parallel_for((blocks + kGroupBlocks - 1) / kGroupBlocks, [&](int64_t group) {
    const int64_t end = std::min(blocks, (group + 1) * kGroupBlocks);
    _tile_loadconfig(&kConfig);
    for (int64_t c = 0; c < chunks; c += 2) {
      for (int64_t b = group * kGroupBlocks; b < end; ++b) {
        block_pair(w, k, b * 32, packed, c, with_lo, out, n, m);
      }
    }
    _tile_release();
  });
  return true;
}

}  // namespace tsr::cpu

#pragma GCC pop_options

namespace tsr::cpu {

bool amx_bf16_usable() {
  static const bool usable = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    constexpr unsigned kAmxBf16 = 1u << 22;
    // amx_int8_usable() checks AMX-TILE, the OS's tile state and AVX-512, and asks Linux for
    // the tile permission (per process, for every tile instruction set).
    return (edx & kAmxBf16) != 0 && amx_int8_usable();
  }();
  return usable;
}

}  // namespace tsr::cpu

#else
namespace tsr::cpu {
bool amx_bf16_usable() {
  return false;
}
bool bf16_amx_gemm(const uint16_t*, int64_t, int64_t, const float*, int64_t, float*) {
  return false;
}
}  // namespace tsr::cpu
#endif

#pragma GCC diagnostic pop
