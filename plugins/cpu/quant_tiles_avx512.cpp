// AVX-512 VNNI tile kernels (see quant_tiles.h): vpdpbusd multiplies a tile's 64-byte chunk
// vector (16 rows x 4 unsigned weight bytes) by 4 activation bytes broadcast to all lanes,
// so 8 instructions finish one 32-block for 16 rows. Up to 8 activation rows share each
// block's weight vectors while they sit in registers. Selected only when the CPU reports
// avx512_vnni (and the AVX-512 kernel set is active); function-level target as in
// kernels_avx512.cpp.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "quant_tiles.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TSR_CPU_HAVE_VNNI_TILES 1
#endif

#ifdef TSR_CPU_HAVE_VNNI_TILES
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma")

#include "quant_tiles_avx512_inl.h"

namespace tsr::cpu {
namespace {

using avx512::scale_bytes;
using avx512::scale_vector;

inline int32_t load4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// With several activation rows a block takes long enough to compute that the hardware
// prefetcher falls behind: at batch 8 the 853M Q4_0 model's tile kernel stalled on its weight
// loads for ~40% of its cycles and read the weights at half the bandwidth of batch 1. So the
// loop asks for the weights (and the scales) kPrefetchBlocks blocks ahead. A tile's blocks
// are contiguous and the next tile follows, so reading past the tile's end prefetches the
// next one (a prefetch never faults). Batch 1 streams fast enough without it.
template <int64_t kBlockBytes>
inline void prefetch_ahead(const uint8_t* block, const char* scales_ahead) {
  const char* ahead = reinterpret_cast<const char*>(block) + kPrefetchBlocks * kBlockBytes;
#pragma GCC unroll 8
  for (int64_t line = 0; line < kBlockBytes; line += 64) _mm_prefetch(ahead + line, _MM_HINT_T0);
  _mm_prefetch(scales_ahead, _MM_HINT_T0);
}

// One activation row's 32-block (xb) against a block's 8 weight vectors, into acc: the
// integer dot product minus the offset's share, times the weight and activation scales,
// plus (asymmetric) min times the block's f32 sum. Two accumulators so vpdpbusd's latency
// overlaps.
template <int32_t kOffset, bool kAsym>
inline __m512 block_into(__m512 acc, const __m512i* wv, const int8_t* xb, int32_t sum, float xs,
                         float block_sum, __m512 ws, __m512 wm) {
  __m512i dot = kAsym ? _mm512_setzero_si512() : _mm512_set1_epi32(-kOffset * sum);
  __m512i dot_odd = _mm512_setzero_si512();
#pragma GCC unroll 4
  for (int c = 0; c < 8; c += 2) {
    dot = _mm512_dpbusd_epi32(dot, wv[c], _mm512_set1_epi32(load4(xb + 4 * c)));
    dot_odd = _mm512_dpbusd_epi32(dot_odd, wv[c + 1], _mm512_set1_epi32(load4(xb + 4 * c + 4)));
  }
  dot = _mm512_add_epi32(dot, dot_odd);
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(ws, _mm512_set1_ps(xs)), acc);
  if constexpr (kAsym) acc = _mm512_fmadd_ps(wm, _mm512_set1_ps(block_sum), acc);
  return acc;
}

// The same for a split tile (groups of 16): chunks 0..3 and 4..7 summed apart, each half
// with its own scale (and min) vector and activation sums, the first half first.
template <int32_t kOffset, bool kAsym>
inline __m512 split_block_into(__m512 acc, const __m512i* wv, const int8_t* xb,
                               const int32_t* half_sum, float xs, const float* half_block_sum,
                               const __m512* ws, const __m512* wm) {
  __m512i lo = kAsym ? _mm512_setzero_si512() : _mm512_set1_epi32(-kOffset * half_sum[0]);
  __m512i hi = kAsym ? _mm512_setzero_si512() : _mm512_set1_epi32(-kOffset * half_sum[1]);
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    lo = _mm512_dpbusd_epi32(lo, wv[c], _mm512_set1_epi32(load4(xb + 4 * c)));
    hi = _mm512_dpbusd_epi32(hi, wv[c + 4], _mm512_set1_epi32(load4(xb + 4 * c + 16)));
  }
  const __m512 vxs = _mm512_set1_ps(xs);
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), _mm512_mul_ps(ws[0], vxs), acc);
  if constexpr (kAsym) acc = _mm512_fmadd_ps(wm[0], _mm512_set1_ps(half_block_sum[0]), acc);
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), _mm512_mul_ps(ws[1], vxs), acc);
  if constexpr (kAsym) acc = _mm512_fmadd_ps(wm[1], _mm512_set1_ps(half_block_sum[1]), acc);
  return acc;
}

// kM activation rows starting at i0 against one tile; kM <= 8 keeps 8 weight vectors and
// kM accumulators in the 32 vector registers. kLayout: the tile's scale layout; kSplit:
// groups of 16 (two scale vectors per block).
template <TileFormat kFormat, int kM, ScaleLayout kLayout, bool kSplit>
void tile_rows(const QuantTile& w, const Q8Rows& x, int64_t i0, float* out, int64_t ldo,
               __mmask16 rows_mask) {
  constexpr bool kAsym = is_asym(kFormat);
  constexpr int32_t kOffset = tile_offset(kFormat);
  constexpr int64_t kBlockBytes = tile_block_bytes(kFormat);
  const int64_t k_blocks = x.k / kTileBlock;
  // Every loop over registers is unrolled (GCC's -O2 would not, and then keeps the arrays
  // on the stack).
  __m512 acc[kM];
#pragma GCC unroll 8
  for (int i = 0; i < kM; ++i) acc[i] = _mm512_setzero_ps();
  constexpr int kVectors = kSplit ? 2 : 1;  // scale vectors per block
  int64_t group = 0;                        // of block b's first half
  int64_t in_group = 0;
  for (int64_t b = 0; b < w.blocks; ++b) {
    const uint8_t* block = w.data + b * kBlockBytes;
    if constexpr (kM > 1) {
      prefetch_ahead<kBlockBytes>(
          block, static_cast<const char*>(w.scales.values) +
                     (group + kPrefetchBlocks * kVectors) * kTileRows * scale_bytes(kLayout));
    }
    __m512i wv[8];
    avx512::unpack_block<kFormat>(block, wv);
    __m512 ws[kVectors];
    __m512 wm[kVectors];
#pragma GCC unroll 2
    for (int h = 0; h < kVectors; ++h) {
      ws[h] = scale_vector<kLayout>(w.scales, group + h, w.super_shift);
      if constexpr (kAsym) wm[h] = scale_vector<kLayout>(w.mins, group + h, w.super_shift);
    }
#pragma GCC unroll 8
    for (int i = 0; i < kM; ++i) {
      const int64_t row = i0 + i;
      const int8_t* xb = x.q + row * x.k + b * kTileBlock;
      const float xs = x.scale[row * k_blocks + b];
      if constexpr (kSplit) {
        const int64_t half = (row * k_blocks + b) * 2;
        acc[i] =
            split_block_into<kOffset, kAsym>(acc[i], wv, xb, x.half_sum + half, xs,
                                             kAsym ? x.half_block_sum + half : nullptr, ws, wm);
      } else {
        acc[i] = block_into<kOffset, kAsym>(acc[i], wv, xb, x.sum[row * k_blocks + b], xs,
                                            kAsym ? x.block_sum[row * k_blocks + b] : 0.0f, ws[0],
                                            wm[0]);
      }
    }
    if constexpr (kSplit) {
      group += 2;
    } else if (++in_group == w.blocks_per_group) {
      in_group = 0;
      ++group;
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < kM; ++i) _mm512_mask_storeu_ps(out + (i0 + i) * ldo, rows_mask, acc[i]);
}

// quantize_q8 (kernels_generic.cpp) 16 lanes at a time, with the same f32 arithmetic
// (absmax / 127 and x * (127 / absmax) rounded to nearest even), so the bytes are equal.
bool quantize_row(const float* x, int64_t k, int8_t* xq, float* xs, int32_t* xsum) {
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < k / kTileBlock; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + b * kTileBlock);
    const __m512 v1 = _mm512_loadu_ps(x + b * kTileBlock + 16);
    if ((_mm512_cmp_ps_mask(v0, v0, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(v1, v1, _CMP_UNORD_Q)) !=
        0) {
      return false;
    }
    const float absmax = _mm512_reduce_max_ps(
        _mm512_max_ps(_mm512_and_ps(v0, abs_mask), _mm512_and_ps(v1, abs_mask)));
    if (!(absmax <= 3.402823466e38f)) return false;  // an Inf
    const float inv = absmax > 0.0f ? 127.0f / absmax : 0.0f;
    const __m512 vinv = _mm512_set1_ps(inv);
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vinv));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vinv));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(xq + b * kTileBlock), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(xq + b * kTileBlock + 16),
                     _mm512_cvtepi32_epi8(q1));
    xs[b] = absmax / 127.0f;
    xsum[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
  return true;
}

template <TileFormat kFormat, ScaleLayout kLayout, bool kSplit>
void tile_vnni_rows(const QuantTile& w, const Q8Rows& x, int64_t m, float* out, int64_t ldo,
                    int64_t rows) {
  const auto mask = static_cast<__mmask16>((1u << rows) - 1u);
  int64_t i = 0;
  for (; i + 8 <= m; i += 8) tile_rows<kFormat, 8, kLayout, kSplit>(w, x, i, out, ldo, mask);
  switch (m - i) {
    case 7:
      tile_rows<kFormat, 7, kLayout, kSplit>(w, x, i, out, ldo, mask);
      break;
    case 6:
      tile_rows<kFormat, 6, kLayout, kSplit>(w, x, i, out, ldo, mask);
      break;
    case 5:
      tile_rows<kFormat, 5, kLayout, kSplit>(w, x, i, out, ldo, mask);
      break;
    case 4:
      tile_rows<kFormat, 4, kLayout, kSplit>(w, x, i, out, ldo, mask);
      break;
    case 3:
      tile_rows<kFormat, 3, kLayout, kSplit>(w, x, i, out, ldo, mask);
      break;
    case 2:
      tile_rows<kFormat, 2, kLayout, kSplit>(w, x, i, out, ldo, mask);
      break;
    case 1:
      tile_rows<kFormat, 1, kLayout, kSplit>(w, x, i, out, ldo, mask);
      break;
    default:
      break;
  }
}

template <TileFormat kFormat, bool kSplit>
void tile_vnni_layout(const QuantTile& w, const Q8Rows& x, int64_t m, float* out, int64_t ldo,
                      int64_t rows) {
  switch (w.layout) {
    case ScaleLayout::kF32:
      return tile_vnni_rows<kFormat, ScaleLayout::kF32, kSplit>(w, x, m, out, ldo, rows);
    case ScaleLayout::kF16:
      return tile_vnni_rows<kFormat, ScaleLayout::kF16, kSplit>(w, x, m, out, ldo, rows);
    case ScaleLayout::kCoded:
      return tile_vnni_rows<kFormat, ScaleLayout::kCoded, kSplit>(w, x, m, out, ldo, rows);
  }
}

template <TileFormat kFormat>
void tile_vnni(const QuantTile& w, const Q8Rows& x, int64_t m, float* out, int64_t ldo,
               int64_t rows) {
  // 5-bit tiles are never split (tileable_group).
  if constexpr (kFormat != TileFormat::kInt5Asym) {
    if (w.split) return tile_vnni_layout<kFormat, true>(w, x, m, out, ldo, rows);
  }
  tile_vnni_layout<kFormat, false>(w, x, m, out, ldo, rows);
}

}  // namespace
}  // namespace tsr::cpu

#pragma GCC pop_options

namespace tsr::cpu {
const TileKernels* tile_kernels_avx512_vnni() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
      !__builtin_cpu_supports("avx512vnni")) {
    return nullptr;
  }
  static const TileKernels table = {"avx512-vnni",
                                    tile_vnni<TileFormat::kInt8>,
                                    tile_vnni<TileFormat::kInt4>,
                                    quantize_row,
                                    tile_vnni<TileFormat::kInt4Asym>,
                                    tile_vnni<TileFormat::kInt5Asym>,
                                    tile_vnni<TileFormat::kInt6>};
  return &table;
}
}  // namespace tsr::cpu

#else
namespace tsr::cpu {
const TileKernels* tile_kernels_avx512_vnni() {
  return nullptr;
}
}  // namespace tsr::cpu
#endif

#pragma GCC diagnostic pop
