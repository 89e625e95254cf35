// AVX2 tile kernels (see quant_tiles.h): each 64-byte chunk vector of a tile is two 8-row
// halves of 32 bytes; vpmaddubsw multiplies one half by 4 broadcast activation bytes into
// int16 pairs. int4 (u <= 15): a pair is at most 2 * 15 * 127, so the 8 chunks of a block
// add up in int16 (<= 30480) before one vpmaddwd widens them. int8: u = w + 128 would
// overflow the int16 pairs, so the weight is turned back to signed w and multiplied as
// |w| times (x with w's sign), pairs <= 2 * 128 * 127. Up to 4 activation rows share the
// weight registers (16 ymm registers). Also the quantized path of AVX-512 CPUs without VNNI.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels.h"
#include "quant_tiles.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TSR_CPU_HAVE_AVX2_TILES 1
#endif

#ifdef TSR_CPU_HAVE_AVX2_TILES
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace tsr::cpu {
namespace {

inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Group g's scales (or mins) for the 8-row half `half` of a tile as f32, from the tile's
// layout (tile_scales.h).
template <ScaleLayout kLayout>
inline __m256 scale_vector(const ScaleArray& a, int64_t g, int super_shift, int half) {
  const int64_t at = g * kTileRows + half * 8;
  if constexpr (kLayout == ScaleLayout::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(a.values) + at);
  } else if constexpr (kLayout == ScaleLayout::kF16) {
    const auto* p = static_cast<const uint16_t*>(a.values) + at;
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else {
    const auto* p = static_cast<const int8_t*>(a.values) + at;
    const __m256 codes = _mm256_cvtepi32_ps(
        _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    return _mm256_mul_ps(_mm256_loadu_ps(a.supers + (g >> super_shift) * kTileRows + half * 8),
                         codes);
  }
}

// The integer dot products of chunks kFirst .. kFirst + kCount - 1 of a block's weight vectors
// with one activation row's bytes (xb: the block), per weight row; without the int4 offset.
template <TileFormat kFormat, int kFirst, int kCount>
inline __m256i chunks_dot(const __m256i* wv, const int8_t* xb) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i dot = _mm256_setzero_si256();
  if constexpr (kFormat == TileFormat::kInt5Asym || kFormat == TileFormat::kInt6) {
    // 5- and 6-bit codes: a chunk's pairs reach 2 * 63 * 127, so they widen to int32 per
    // chunk (several chunks summed in int16 could overflow).
#pragma GCC unroll 8
    for (int c = kFirst; c < kFirst + kCount; ++c) {
      dot = _mm256_add_epi32(
          dot, _mm256_madd_epi16(_mm256_maddubs_epi16(wv[c], broadcast4(xb + 4 * c)), ones));
    }
  } else if constexpr (kFormat != TileFormat::kInt8) {
    // 4-bit codes: eight chunks' pairs stay within int16 (8 * 2 * 15 * 127).
    __m256i pairs = _mm256_maddubs_epi16(wv[kFirst], broadcast4(xb + 4 * kFirst));
#pragma GCC unroll 7
    for (int c = kFirst + 1; c < kFirst + kCount; ++c) {
      pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(wv[c], broadcast4(xb + 4 * c)));
    }
    dot = _mm256_madd_epi16(pairs, ones);
  } else {
    // int8 weights (signed): vpmaddubsw wants unsigned x signed, so |w| times x with w's sign.
#pragma GCC unroll 8
    for (int c = kFirst; c < kFirst + kCount; ++c) {
      const __m256i signed_x = _mm256_sign_epi8(broadcast4(xb + 4 * c), wv[c]);
      const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(wv[c]), signed_x);
      dot = _mm256_add_epi32(dot, _mm256_madd_epi16(pairs, ones));
    }
  }
  return dot;
}

// kM activation rows from i0 against the 8-row half `half` of one tile. kLayout: the tile's
// scale layout; kSplit: groups of 16 (two scale vectors per block, the block's halves summed
// apart, the first half first).
template <TileFormat kFormat, int kM, ScaleLayout kLayout, bool kSplit>
void half_rows(const QuantTile& w, const Q8Rows& x, int64_t i0, int half, float* out, int64_t ldo,
               int64_t rows) {
  constexpr bool kInt4 = kFormat != TileFormat::kInt8;
  // The offset of the codes built from nibbles (int4: 8, 6-bit: 32); int8 weights are taken
  // signed (chunks_dot), so they need none.
  constexpr int32_t kNibbleOffset = kInt4 ? tile_offset(kFormat) : 0;
  constexpr int kPlanes = kFormat == TileFormat::kInt5Asym ? 1
                          : kFormat == TileFormat::kInt6   ? 2
                                                           : 0;
  constexpr bool kAsym = is_asym(kFormat);
  constexpr int64_t kBlockBytes = tile_block_bytes(kFormat);
  const int64_t k_blocks = x.k / kTileBlock;
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  // Loops over registers unrolled (GCC's -O2 would keep the arrays on the stack).
  __m256 acc[kM];
#pragma GCC unroll 4
  for (int i = 0; i < kM; ++i) acc[i] = _mm256_setzero_ps();
  constexpr int kVectors = kSplit ? 2 : 1;  // scale vectors per block
  constexpr int64_t kScaleBytes = kLayout == ScaleLayout::kF32   ? 4
                                  : kLayout == ScaleLayout::kF16 ? 2
                                                                 : 1;
  int64_t group = 0;  // of block b's first half
  int64_t in_group = 0;
  for (int64_t b = 0; b < w.blocks; ++b) {
    const uint8_t* block = w.data + b * kBlockBytes + half * 32;
    if constexpr (kM > 1) {
      // As in quant_tiles_avx512.cpp: several rows per block outrun the hardware prefetcher.
      const char* ahead =
          reinterpret_cast<const char*>(w.data + (b + kPrefetchBlocks) * kBlockBytes);
#pragma GCC unroll 8
      for (int64_t line = 0; line < kBlockBytes; line += 64)
        _mm_prefetch(ahead + line, _MM_HINT_T0);
      _mm_prefetch(static_cast<const char*>(w.scales.values) +
                       (group + kPrefetchBlocks * kVectors) * kTileRows * kScaleBytes,
                   _MM_HINT_T0);
    }
    __m256i wv[8];
    if constexpr (kInt4) {
#pragma GCC unroll 4
      for (int v = 0; v < 4; ++v) {
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + v * 64));
        wv[v] = _mm256_and_si256(raw, low);
        wv[v + 4] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low);
      }
      if constexpr (kPlanes > 0) {
        // This half's 32 fifth bits of chunk c (mask bits 32 half ..) become 0x10 in their
        // bytes: byte b of the vector tests bit b % 8 of mask byte b / 8. The sixth bits
        // (6-bit codes, the second plane) likewise become 0x20.
        const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2,
                                                2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
        const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
        const uint8_t* planes = w.data + b * kBlockBytes + kTileBlockBytesI4 + half * 4;
#pragma GCC unroll 2
        for (int p = 0; p < kPlanes; ++p) {
          const __m256i value = _mm256_set1_epi8(static_cast<char>(0x10 << p));
#pragma GCC unroll 8
          for (int c = 0; c < 8; ++c) {
            uint32_t bits;
            std::memcpy(&bits, planes + (p * 8 + c) * 8, 4);
            const __m256i bytes =
                _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int32_t>(bits)), spread);
            const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
            wv[c] = _mm256_or_si256(wv[c], _mm256_and_si256(set, value));
          }
        }
      }
    } else {
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        wv[c] = _mm256_xor_si256(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + c * 64)), flip);
      }
    }
    __m256 ws[kVectors];
    __m256 wm[kVectors];
#pragma GCC unroll 2
    for (int h = 0; h < kVectors; ++h) {
      ws[h] = scale_vector<kLayout>(w.scales, group + h, w.super_shift, half);
      if constexpr (kAsym) wm[h] = scale_vector<kLayout>(w.mins, group + h, w.super_shift, half);
    }
#pragma GCC unroll 4
    for (int i = 0; i < kM; ++i) {
      const int64_t row = i0 + i;
      const int8_t* xb = x.q + row * x.k + b * kTileBlock;
      const __m256 xs = _mm256_set1_ps(x.scale[row * k_blocks + b]);
      if constexpr (kSplit) {
        const int64_t at = (row * k_blocks + b) * 2;
        __m256i lo = chunks_dot<kFormat, 0, 4>(wv, xb);
        __m256i hi = chunks_dot<kFormat, 4, 4>(wv, xb);
        if constexpr (kNibbleOffset != 0) {
          lo = _mm256_add_epi32(lo, _mm256_set1_epi32(-kNibbleOffset * x.half_sum[at]));
          hi = _mm256_add_epi32(hi, _mm256_set1_epi32(-kNibbleOffset * x.half_sum[at + 1]));
        }
        acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), _mm256_mul_ps(ws[0], xs), acc[i]);
        if constexpr (kAsym) {
          acc[i] = _mm256_fmadd_ps(wm[0], _mm256_set1_ps(x.half_block_sum[at]), acc[i]);
        }
        acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), _mm256_mul_ps(ws[1], xs), acc[i]);
        if constexpr (kAsym) {
          acc[i] = _mm256_fmadd_ps(wm[1], _mm256_set1_ps(x.half_block_sum[at + 1]), acc[i]);
        }
        continue;
      }
      __m256i dot = chunks_dot<kFormat, 0, 8>(wv, xb);
      if constexpr (kNibbleOffset != 0) {
        dot = _mm256_add_epi32(dot, _mm256_set1_epi32(-kNibbleOffset * x.sum[row * k_blocks + b]));
      }
      acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(ws[0], xs), acc[i]);
      if constexpr (kAsym) {
        acc[i] = _mm256_fmadd_ps(wm[0], _mm256_set1_ps(x.block_sum[row * k_blocks + b]), acc[i]);
      }
    }
    if constexpr (kSplit) {
      group += 2;
    } else if (++in_group == w.blocks_per_group) {
      in_group = 0;
      ++group;
    }
  }
  const int64_t valid = rows - half * 8;
  for (int i = 0; i < kM; ++i) {
    float* dst = out + (i0 + i) * ldo + half * 8;
    if (valid >= 8) {
      _mm256_storeu_ps(dst, acc[i]);
    } else {
      alignas(32) float tmp[8];
      _mm256_store_ps(tmp, acc[i]);
      for (int64_t r = 0; r < valid; ++r) dst[r] = tmp[r];
    }
  }
}

template <TileFormat kFormat, ScaleLayout kLayout, bool kSplit>
void tile_avx2_rows(const QuantTile& w, const Q8Rows& x, int64_t m, float* out, int64_t ldo,
                    int64_t rows) {
  for (int half = 0; half < 2 && half * 8 < rows; ++half) {
    int64_t i = 0;
    for (; i + 4 <= m; i += 4)
      half_rows<kFormat, 4, kLayout, kSplit>(w, x, i, half, out, ldo, rows);
    switch (m - i) {
      case 3:
        half_rows<kFormat, 3, kLayout, kSplit>(w, x, i, half, out, ldo, rows);
        break;
      case 2:
        half_rows<kFormat, 2, kLayout, kSplit>(w, x, i, half, out, ldo, rows);
        break;
      case 1:
        half_rows<kFormat, 1, kLayout, kSplit>(w, x, i, half, out, ldo, rows);
        break;
      default:
        break;
    }
  }
}

template <TileFormat kFormat, bool kSplit>
void tile_avx2_layout(const QuantTile& w, const Q8Rows& x, int64_t m, float* out, int64_t ldo,
                      int64_t rows) {
  switch (w.layout) {
    case ScaleLayout::kF32:
      return tile_avx2_rows<kFormat, ScaleLayout::kF32, kSplit>(w, x, m, out, ldo, rows);
    case ScaleLayout::kF16:
      return tile_avx2_rows<kFormat, ScaleLayout::kF16, kSplit>(w, x, m, out, ldo, rows);
    case ScaleLayout::kCoded:
      return tile_avx2_rows<kFormat, ScaleLayout::kCoded, kSplit>(w, x, m, out, ldo, rows);
  }
}

template <TileFormat kFormat>
void tile_avx2(const QuantTile& w, const Q8Rows& x, int64_t m, float* out, int64_t ldo,
               int64_t rows) {
  // 5-bit tiles are never split (tileable_group).
  if constexpr (kFormat != TileFormat::kInt5Asym) {
    if (w.split) return tile_avx2_layout<kFormat, true>(w, x, m, out, ldo, rows);
  }
  tile_avx2_layout<kFormat, false>(w, x, m, out, ldo, rows);
}

}  // namespace
}  // namespace tsr::cpu

#pragma GCC pop_options

namespace tsr::cpu {
const TileKernels* tile_kernels_avx2() {
  __builtin_cpu_init();
  // The f16 scales also need F16C, which select_isa() requires for the AVX2 level before
  // set_tile_kernels() asks for this set.
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return nullptr;
  static const TileKernels table = {"avx2",
                                    tile_avx2<TileFormat::kInt8>,
                                    tile_avx2<TileFormat::kInt4>,
                                    quantize_q8,
                                    tile_avx2<TileFormat::kInt4Asym>,
                                    tile_avx2<TileFormat::kInt5Asym>,
                                    tile_avx2<TileFormat::kInt6>};
  return &table;
}
}  // namespace tsr::cpu

#else
namespace tsr::cpu {
const TileKernels* tile_kernels_avx2() {
  return nullptr;
}
}  // namespace tsr::cpu
#endif
