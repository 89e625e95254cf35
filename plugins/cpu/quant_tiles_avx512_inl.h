// AVX-512 pieces shared by the VNNI tile kernels (quant_tiles_avx512.cpp) and the AMX ones
// (quant_tiles_amx.cpp): one packed block's codes as 8 vectors of unsigned bytes, and a
// group's 16 per-row scales as f32. Include only after a `#pragma GCC target` that enables
// AVX-512 F/BW/DQ/VL (clang: the file's -mavx512* flags).
#ifndef TESSERA_PLUGINS_CPU_QUANT_TILES_AVX512_INL_H
#define TESSERA_PLUGINS_CPU_QUANT_TILES_AVX512_INL_H

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "quant_tiles.h"

namespace tsr::cpu::avx512 {

// Group g's 16 per-row scales (or mins) as f32, from the tile's layout (tile_scales.h).
template <ScaleLayout kLayout>
inline __m512 scale_vector(const ScaleArray& a, int64_t g, int super_shift) {
  if constexpr (kLayout == ScaleLayout::kF32) {
    return _mm512_loadu_ps(static_cast<const float*>(a.values) + g * kTileRows);
  } else if constexpr (kLayout == ScaleLayout::kF16) {
    const auto* p = static_cast<const uint16_t*>(a.values) + g * kTileRows;
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  } else {
    const auto* p = static_cast<const int8_t*>(a.values) + g * kTileRows;
    const __m512 codes = _mm512_cvtepi32_ps(
        _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
    return _mm512_mul_ps(_mm512_loadu_ps(a.supers + (g >> super_shift) * kTileRows), codes);
  }
}

// Bytes of one stored scale in a layout (kCoded: its code).
constexpr int64_t scale_bytes(ScaleLayout layout) {
  return layout == ScaleLayout::kF32 ? 4 : layout == ScaleLayout::kF16 ? 2 : 1;
}

// The stored codes u of one packed block (tile_block_bytes(kFormat) bytes at `block`):
// wv[c] = chunk c, row r in bytes 4r..4r+3, whatever the format's bit layout.
template <TileFormat kFormat>
inline void unpack_block(const uint8_t* block, __m512i* wv) {
  if constexpr (kFormat == TileFormat::kInt8) {
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) wv[c] = _mm512_loadu_si512(block + c * 64);
  } else {
    const __m512i low = _mm512_set1_epi8(0x0f);
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      const __m512i raw = _mm512_loadu_si512(block + v * 64);
      wv[v] = _mm512_and_si512(raw, low);
      wv[v + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low);
    }
    if constexpr (kFormat == TileFormat::kInt5Asym || kFormat == TileFormat::kInt6) {
      // The fifth bits: chunk c's 64-bit mask adds 16 to the bytes whose bit is set; the
      // sixth bits (6-bit codes) likewise add 32.
      constexpr int kPlanes = kFormat == TileFormat::kInt6 ? 2 : 1;
#pragma GCC unroll 2
      for (int p = 0; p < kPlanes; ++p) {
        const __m512i bit = _mm512_set1_epi8(static_cast<char>(0x10 << p));
#pragma GCC unroll 8
        for (int c = 0; c < 8; ++c) {
          uint64_t bits;
          std::memcpy(&bits, block + kTileBlockBytesI4 + (p * 8 + c) * 8, 8);
          wv[c] = _mm512_mask_add_epi8(wv[c], _cvtu64_mask64(bits), wv[c], bit);
        }
      }
    }
  }
}

}  // namespace tsr::cpu::avx512

#endif  // TESSERA_PLUGINS_CPU_QUANT_TILES_AVX512_INL_H
