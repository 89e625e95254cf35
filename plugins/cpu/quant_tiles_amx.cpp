// AMX-INT8 tile kernels for prefill-sized quantized linears (see quant_tiles.h).
//
// Why: on a CPU with AMX one tdpbssd does 16 x 16 x 32 int8 multiply-adds (a whole 32-block
// of 16 activation rows against 16 weight rows), where the VNNI kernel spends 8 vpdpbusd per
// activation row. What remains per block is the scaling the group-wise formats need anyway
// (convert the 16 x 16 int32 sums, times weight scale x activation scale, plus mins), about
// 3 vector instructions per activation row instead of 12.
//
// Operands: A = 16 activation rows of the block (int8, row stride k, straight from the
// quantized activations); B = the tile's block, whose chunk layout ([chunk c][row r][4 bytes])
// is exactly the layout AMX wants for B (K/4 rows of 16 columns x 4 bytes). Every format is
// first written out per call as signed int8 codes in that layout (materialize), so one kernel
// serves int8/6-bit/int4/5-bit and the symmetric offset needs no correction term. Split
// tiles (groups of 16) take two half-block products per block.
//
// The integer sums equal the VNNI kernel's (both exact), and the scaling below repeats its
// f32 operations in its order, so results are bitwise equal to the VNNI path
// (tests/cpu_plugin/quant_tiles_test.cpp, AmxBitwiseEqualToVnni).
//
// Linux grants a process the AMX tile state only on request (arch_prctl
// ARCH_REQ_XCOMP_PERM), once, before any tile instruction; without it they fault.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "quant_tiles.h"

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#define TSR_CPU_HAVE_AMX_TILES 1
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#ifdef TSR_CPU_HAVE_AMX_TILES
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,amx-tile,amx-int8")

#include "quant_tiles_avx512_inl.h"

namespace tsr::cpu {
namespace {

using avx512::scale_vector;

// The 64-byte operand of ldtilecfg (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles 0, 1: int32 sums (16 x 16); 2, 3: activations (16 rows x `a_bytes`); 4, 5: weight
// codes (a_bytes / 4 rows x 64 bytes). Two of each, so one product's store overlaps the next.
TileConfig make_config(int a_bytes) {
  TileConfig c;
  for (int t = 0; t < 2; ++t) {
    c.rows[t] = 16;
    c.colsb[t] = 64;
    c.rows[2 + t] = 16;
    c.colsb[2 + t] = static_cast<uint16_t>(a_bytes);
    c.rows[4 + t] = static_cast<uint8_t>(a_bytes / 4);
    c.colsb[4 + t] = 64;
  }
  return c;
}

const TileConfig kWholeBlocks = make_config(kTileBlock);
const TileConfig kHalfBlocks = make_config(kTileBlock / 2);

template <TileFormat kFormat>
void materialize(const QuantTile& w, int8_t* codes) {
  constexpr int64_t kBlockBytes = tile_block_bytes(kFormat);
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(tile_offset(kFormat)));
  for (int64_t b = 0; b < w.blocks; ++b) {
    __m512i wv[8];
    avx512::unpack_block<kFormat>(w.data + b * kBlockBytes, wv);
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) {
      // u - offset wraps to the signed code (int8: u - 128 for u in 0..255).
      const __m512i v = tile_offset(kFormat) != 0 ? _mm512_sub_epi8(wv[c], offset) : wv[c];
      _mm512_storeu_si512(codes + b * kTileBlockBytesI8 + c * 64, v);
    }
  }
}

// acc[i] += sums[i] * (ws * xs_i) (+ wm * block_sum_i): the VNNI kernel's block_into scaling.
// xs_i = xs[i * xs_stride], block_sum_i = block_sum[i * sum_stride].
template <bool kAsym>
inline void scale_into(__m512* acc, const int32_t (*sums)[16], __m512 ws, __m512 wm,
                       const float* xs, int64_t xs_stride, const float* block_sum,
                       int64_t sum_stride) {
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) {
    const __m512 dot = _mm512_cvtepi32_ps(_mm512_load_si512(sums[i]));
    acc[i] = _mm512_fmadd_ps(dot, _mm512_mul_ps(ws, _mm512_set1_ps(xs[i * xs_stride])), acc[i]);
    if constexpr (kAsym) {
      acc[i] = _mm512_fmadd_ps(wm, _mm512_set1_ps(block_sum[i * sum_stride]), acc[i]);
    }
  }
}

template <bool kAsym, bool kSplit, ScaleLayout kLayout>
void rows16(const QuantTile& w, const int8_t* codes, const Q8Rows& x, float* out, int64_t ldo,
            int64_t n_valid, int64_t m_valid) {
  const int64_t k = x.k;
  const int64_t k_blocks = k / kTileBlock;
  alignas(64) int32_t sums[2][16][16];
  __m512 acc[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
  __m512 wm[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  _tile_loadconfig(kSplit ? &kHalfBlocks : &kWholeBlocks);
  if constexpr (kSplit) {
    for (int64_t b = 0; b < w.blocks; ++b) {
      // Half h of block b: activation bytes 16h..16h+15, weight chunks 4h..4h+3.
      _tile_zero(0);
      _tile_zero(1);
      _tile_loadd(2, x.q + b * kTileBlock, k);
      _tile_loadd(4, codes + b * kTileBlockBytesI8, 64);
      _tile_loadd(3, x.q + b * kTileBlock + kTileBlock / 2, k);
      _tile_loadd(5, codes + b * kTileBlockBytesI8 + kTileBlockBytesI8 / 2, 64);
      _tile_dpbssd(0, 2, 4);
      _tile_dpbssd(1, 3, 5);
      _tile_stored(0, sums[0], 64);
      _tile_stored(1, sums[1], 64);
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const __m512 ws = scale_vector<kLayout>(w.scales, 2 * b + h, w.super_shift);
        if constexpr (kAsym) wm[h] = scale_vector<kLayout>(w.mins, 2 * b + h, w.super_shift);
        // The split VNNI kernel scales both halves by the block's activation scale.
        scale_into<kAsym>(acc, sums[h], ws, wm[h], x.scale + b, k_blocks,
                          kAsym ? x.half_block_sum + 2 * b + h : nullptr, 2 * k_blocks);
      }
    }
  } else {
    const auto scale_block = [&](int64_t b, const int32_t(*block_sums)[16]) {
      const int64_t g = b / w.blocks_per_group;
      const __m512 ws = scale_vector<kLayout>(w.scales, g, w.super_shift);
      if constexpr (kAsym) wm[0] = scale_vector<kLayout>(w.mins, g, w.super_shift);
      scale_into<kAsym>(acc, block_sums, ws, wm[0], x.scale + b, k_blocks,
                        kAsym ? x.block_sum + b : nullptr, k_blocks);
    };
    int64_t b = 0;
    for (; b + 2 <= w.blocks; b += 2) {
      _tile_zero(0);
      _tile_zero(1);
      _tile_loadd(2, x.q + b * kTileBlock, k);
      _tile_loadd(4, codes + b * kTileBlockBytesI8, 64);
      _tile_loadd(3, x.q + (b + 1) * kTileBlock, k);
      _tile_loadd(5, codes + (b + 1) * kTileBlockBytesI8, 64);
      _tile_dpbssd(0, 2, 4);
      _tile_dpbssd(1, 3, 5);
      _tile_stored(0, sums[0], 64);
      _tile_stored(1, sums[1], 64);
      scale_block(b, sums[0]);
      scale_block(b + 1, sums[1]);
    }
    if (b < w.blocks) {
      _tile_zero(0);
      _tile_loadd(2, x.q + b * kTileBlock, k);
      _tile_loadd(4, codes + b * kTileBlockBytesI8, 64);
      _tile_dpbssd(0, 2, 4);
      _tile_stored(0, sums[0], 64);
      scale_block(b, sums[0]);
    }
  }
  _tile_release();
  const auto mask = static_cast<__mmask16>((1u << n_valid) - 1u);
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) {
    if (i < m_valid) _mm512_mask_storeu_ps(out + i * ldo, mask, acc[i]);
  }
}

template <bool kAsym, bool kSplit>
void rows16_layout(const QuantTile& w, const int8_t* codes, const Q8Rows& x, float* out,
                   int64_t ldo, int64_t n_valid, int64_t m_valid) {
  switch (w.layout) {
    case ScaleLayout::kF32:
      return rows16<kAsym, kSplit, ScaleLayout::kF32>(w, codes, x, out, ldo, n_valid, m_valid);
    case ScaleLayout::kF16:
      return rows16<kAsym, kSplit, ScaleLayout::kF16>(w, codes, x, out, ldo, n_valid, m_valid);
    case ScaleLayout::kCoded:
      return rows16<kAsym, kSplit, ScaleLayout::kCoded>(w, codes, x, out, ldo, n_valid, m_valid);
  }
}

template <bool kAsym>
void rows16_any(const QuantTile& w, const int8_t* codes, const Q8Rows& x, float* out, int64_t ldo,
                int64_t n_valid, int64_t m_valid) {
  if (w.split) return rows16_layout<kAsym, true>(w, codes, x, out, ldo, n_valid, m_valid);
  rows16_layout<kAsym, false>(w, codes, x, out, ldo, n_valid, m_valid);
}

}  // namespace
}  // namespace tsr::cpu

#pragma GCC pop_options

namespace tsr::cpu {

// AMX-TILE (CPUID.7.0:EDX[24]) and AMX-INT8 (EDX[25]), the OS saving the tile state (XCR0
// bits 17 and 18), AVX-512 for the scaling, and Linux's permission for this process.
bool amx_int8_usable() {
  static const bool usable = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0 || (ecx & bit_OSXSAVE) == 0) return false;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    constexpr unsigned kAmxTile = 1u << 24;
    constexpr unsigned kAmxInt8 = 1u << 25;
    if ((edx & (kAmxTile | kAmxInt8)) != (kAmxTile | kAmxInt8)) return false;
    unsigned xcr0_low = 0, xcr0_high = 0;
    __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    constexpr unsigned kTileState = (1u << 17) | (1u << 18);
    if ((xcr0_low & kTileState) != kTileState) return false;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw")) return false;
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return usable;
}

namespace {

template <TileFormat kFormat>
constexpr AmxTileKernels kernels_for() {
  return AmxTileKernels{materialize<kFormat>, rows16_any<is_asym(kFormat)>};
}

constexpr AmxTileKernels kAmx[] = {
    kernels_for<TileFormat::kInt8>(), kernels_for<TileFormat::kInt4>(),
    kernels_for<TileFormat::kInt4Asym>(), kernels_for<TileFormat::kInt5Asym>(),
    kernels_for<TileFormat::kInt6>()};

}  // namespace

const AmxTileKernels* amx_tile_kernels(TileFormat format) {
  if (active_isa() != Isa::kAvx512 || !amx_int8_usable()) return nullptr;
  return &kAmx[static_cast<int>(format)];
}

}  // namespace tsr::cpu

#else
namespace tsr::cpu {
bool amx_int8_usable() {
  return false;
}
const AmxTileKernels* amx_tile_kernels(TileFormat) {
  return nullptr;
}
}  // namespace tsr::cpu
#endif

#pragma GCC diagnostic pop
