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

// Tiles 0..3: int32 sums (16 x 16); 4, 5: activations (16 rows x `a_bytes`); 6, 7: weight
// codes (a_bytes / 4 rows x 64 bytes).
TileConfig make_config(int a_bytes) {
  TileConfig c;
  for (int t = 0; t < 4; ++t) {
    c.rows[t] = 16;
    c.colsb[t] = 64;
  }
  for (int t = 4; t < 6; ++t) {
    c.rows[t] = 16;
    c.colsb[t] = static_cast<uint16_t>(a_bytes);
    c.rows[t + 2] = static_cast<uint8_t>(a_bytes / 4);
    c.colsb[t + 2] = 64;
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

// Step s is one product into sum tile C from activation tile A and weight tile B (tile
// numbers are literals: the intrinsics paste them into the instruction): non-split, block s;
// split, half s % 2 of block s / 2 (activation bytes 16h.., weight chunks 4h..).
#define TSR_AMX_ISSUE_STEP(C, A, B, kSplit, x, codes, s)                                        \
  do {                                                                                          \
    _tile_zero(C);                                                                              \
    _tile_loadd(A, (x).q + (s) * ((kSplit) ? kTileBlock / 2 : kTileBlock), (x).k);              \
    _tile_loadd(B, (codes) + (s) * ((kSplit) ? kTileBlockBytesI8 / 2 : kTileBlockBytesI8), 64); \
    _tile_dpbssd(C, A, B);                                                                      \
  } while (0)

// acc += the scaled sums of step s (the VNNI kernel's scaling, in its order).
template <bool kAsym, bool kSplit, ScaleLayout kLayout>
__attribute__((always_inline)) inline void scale_step(__m512* acc, const QuantTile& w,
                                                      const Q8Rows& x, int64_t s,
                                                      const int32_t (*sums)[16]) {
  const int64_t k_blocks = x.k / kTileBlock;
  const int64_t b = kSplit ? s / 2 : s;                   // block
  const int64_t g = kSplit ? s : b / w.blocks_per_group;  // scale group
  const __m512 ws = scale_vector<kLayout>(w.scales, g, w.super_shift);
  const __m512 wm = kAsym ? scale_vector<kLayout>(w.mins, g, w.super_shift) : ws;
  // Split tiles scale both halves by the block's activation scale, and add the mins times
  // the half block's f32 sum.
  const float* sum = kAsym ? (kSplit ? x.half_block_sum + s : x.block_sum + b) : nullptr;
  scale_into<kAsym>(acc, sums, ws, wm, x.scale + b, k_blocks, sum,
                    kSplit ? 2 * k_blocks : k_blocks);
}

template <bool kAsym, bool kSplit, ScaleLayout kLayout>
void rows16(const QuantTile& w, const int8_t* codes, const Q8Rows& x, float* out, int64_t ldo,
            int64_t n_valid, int64_t m_valid) {
  alignas(64) int32_t sums[16][16];
  __m512 acc[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
  // Software-pipelined two steps deep: step s + 2's product is issued before step s's sums
  // are stored and scaled, so the tile unit computes (a product's latency is several times
  // its issue interval) while the vector units scale. Sum tiles rotate over 0..3, operand
  // tiles over (4, 6) and (5, 7): an operand is reloaded two steps after the product that
  // read it.
  const int64_t steps = kSplit ? 2 * w.blocks : w.blocks;
  TSR_AMX_ISSUE_STEP(0, 4, 6, kSplit, x, codes, 0);
  if (steps > 1) TSR_AMX_ISSUE_STEP(1, 5, 7, kSplit, x, codes, 1);
  for (int64_t s = 0; s < steps; ++s) {
    const bool ahead = s + 2 < steps;
    switch (s & 3) {
      case 0:
        if (ahead) TSR_AMX_ISSUE_STEP(2, 4, 6, kSplit, x, codes, s + 2);
        _tile_stored(0, sums, 64);
        break;
      case 1:
        if (ahead) TSR_AMX_ISSUE_STEP(3, 5, 7, kSplit, x, codes, s + 2);
        _tile_stored(1, sums, 64);
        break;
      case 2:
        if (ahead) TSR_AMX_ISSUE_STEP(0, 4, 6, kSplit, x, codes, s + 2);
        _tile_stored(2, sums, 64);
        break;
      default:
        if (ahead) TSR_AMX_ISSUE_STEP(1, 5, 7, kSplit, x, codes, s + 2);
        _tile_stored(3, sums, 64);
        break;
    }
    scale_step<kAsym, kSplit, kLayout>(acc, w, x, s, sums);
  }
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

// ldtilecfg costs as much as several products, so a work item configures once.
void begin_tiles(bool split) {
  _tile_loadconfig(split ? &kHalfBlocks : &kWholeBlocks);
}

void end_tiles() {
  _tile_release();
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
  return AmxTileKernels{materialize<kFormat>, begin_tiles, rows16_any<is_asym(kFormat)>, end_tiles};
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
