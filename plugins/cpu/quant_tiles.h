// Row-interleaved integer weights and the tile kernels that stream them (int8 and int4
// group-wise weights with whole 32-wide groups: GGUF Q8_0 / Q4_0, --quantization int8|int4,
// int8 per-channel; asymmetric int4 with whole 32-wide groups: GGUF Q4_1, Q4_K; and
// asymmetric 5-bit codes: GGUF Q5_1, Q5_K).
//
// Why a repacked layout: a decode step with M activation rows should read each weight byte
// once and use it M times, and an integer dot product should end in a vector of complete
// per-row results, not in a horizontal sum per (row, activation row) pair. So weight_prepack
// cuts the weight into tiles of kTileRows output rows and, for each 32-wide block of K,
// stores the tile's bytes chunk by chunk: chunk c (K values 4c..4c+3 of the block) of all
// 16 rows is one 64-byte vector, row r in bytes 4r..4r+3. One AVX-512 VNNI instruction
// (vpdpbusd) multiplies that vector by 4 activation bytes broadcast to every lane and adds
// into 16 per-row int32 sums; 8 of them finish a block for 16 rows and one activation row,
// and the weight vectors stay in registers for the next activation row (llama.cpp repacks
// Q4_0 for AVX2/AVX-512 on the same idea). AVX2 takes each 64-byte vector as two 8-row halves.
//
//   int8 tile block (512 bytes): [chunk 0..7][row 0..15][4 bytes], each byte w + 128 (u8)
//   int4 tile block (256 bytes): [vector 0..3][row 0..15][4 bytes]; byte (v, r, i) holds
//                                chunk v in its low nibble and chunk v + 4 in its high one,
//                                each nibble u = w + 8
//   scales: [tile][group][16 rows] in f32, f16 or int8 codes times an f32 per 256 columns,
//           whichever holds every value exactly (tile_scales.h); rows past n are padding
//           with scale 0 and weight 0.
//
// Both formats store an unsigned weight u = w + offset (offset 128 or 8), the operand order
// vpdpbusd and vpmaddubsw want (unsigned times signed); the activation blocks' sums, computed
// when the activations are quantized, remove it: sum (u - offset) x = sum u x - offset sum x.
// Asymmetric 5-bit codes (u in 0..31) keep their low 4 bits as an int4 tile block and the
// fifth bits in 64 bytes of per-chunk masks after it (kTileBlockBytesI5). Symmetric 6-bit
// codes (int8 weights within -32..31, u = w + 32: GGUF Q6_K and Q5_0) keep two such mask
// planes, bit 4 and bit 5 (kTileBlockBytesI6): 6 bits per weight instead of int8's 8.
// Asymmetric int4 (w = u * scale + min, u in 0..15) keeps the int4 tile bytes as they are and
// adds per-group mins beside the scales: per block, scale * xs * sum u xq + min * (the f32
// sum of the block's activations), so the min part adds no activation rounding.
// Groups of 16 (GGUF Q6_K as int8, Q3_K as int4, Q2_K as asymmetric int4: "split" tiles) keep
// the same bytes with two scale vectors per block, one per half (chunks 0..3 and 4..7: in
// the int4 layout the low and the high nibbles): the kernels sum the halves apart and scale
// each, with the activations' offset sums (and f32 sums) taken per 16 values.
//
// Error bound of a result (tested in tests/cpu_plugin/quant_tiles_test.cpp): the integer
// products are exact; the activations are quantized per 32-block to int8 with scale
// xs = absmax / 127, so each is off by at most xs / 2, and
//   |y - sum_j x_j w_j| <= sum_b (xs_b / 2) sum_{j in b} |w_j| + f32 rounding of the per-block
//                          scaling (a few ulp of sum_j |x_j w_j| per block).
// For asymmetric int4 |w_j| in the first term is |u_j * scale| (the min part is exact up to
// f32 rounding of the block sums and their products).
//
// Adding a format: a pack function and a tile kernel per ISA beside these, and an entry in
// linear_quant.cpp's scheme table; QuantTile's layout fields are all a kernel gets.
#ifndef TESSERA_PLUGINS_CPU_QUANT_TILES_H
#define TESSERA_PLUGINS_CPU_QUANT_TILES_H

#include <cstdint>
#include <vector>

#include "isa.h"
#include "tile_scales.h"

namespace tsr::cpu {

inline constexpr int64_t kTileRows = 16;
inline constexpr int64_t kTileBlock = 32;  // K values per block (the activations' Q8 block)

// The activation rows of one linear call quantized to int8 per 32-block (quantize_q8):
// row i's values at q + i * k, its block scales at scale + i * (k / 32), block sums likewise.
struct Q8Rows {
  const int8_t* q;
  const float* scale;
  const int32_t* sum;
  int64_t k;
  // Asymmetric formats only: the f32 sum of each 32-block of the activations (laid out like
  // scale), which the mins multiply.
  const float* block_sum = nullptr;
  // Split tiles only (groups of 16): the int8 sums and (asymmetric) the f32 sums of each
  // 16-value half block, [row][2 * k / 32], in place of sum and block_sum.
  const int32_t* half_sum = nullptr;
  const float* half_block_sum = nullptr;
};

enum class TileFormat { kInt8, kInt4, kInt4Asym, kInt5Asym, kInt6 };

// The offset a symmetric format's stored code carries (u = w + offset); 0 for asymmetric.
constexpr int32_t tile_offset(TileFormat f) {
  return f == TileFormat::kInt8   ? 128
         : f == TileFormat::kInt4 ? 8
         : f == TileFormat::kInt6 ? 32
                                  : 0;
}

// Formats whose weights are w = u * scale + min (mins beside the scales, no offset).
constexpr bool is_asym(TileFormat f) {
  return f == TileFormat::kInt4Asym || f == TileFormat::kInt5Asym;
}

// One tile of packed weights: `blocks` blocks of K, scales per group of blocks_per_group
// blocks (1 and two scale vectors per block when split), in `layout` (tile_scales.h).
struct QuantTile {
  const uint8_t* data;
  int64_t blocks;
  int64_t blocks_per_group;
  bool split;  // groups of 16
  ScaleLayout layout;
  int super_shift;  // kCoded: group g's super value is g >> super_shift
  ScaleArray scales;
  ScaleArray mins;  // asymmetric formats
};

// out[i * ldo + r] = sum_j x[i][j] * w[r][j] for i < m activation rows and r < rows (<= 16)
// of the tile; the rest of out is not touched.
using TileKernel = void (*)(const QuantTile& w, const Q8Rows& x, int64_t m, float* out, int64_t ldo,
                            int64_t rows);

// quantize_q8's contract (kernels.h): one activation row to int8 per 32-block; false when
// the row has a NaN or Inf. Every implementation rounds x * (127 / absmax) to nearest even
// in f32, so all ISA paths produce the same bytes.
using QuantizeRow = bool (*)(const float* x, int64_t k, int8_t* xq, float* xs, int32_t* xsum);

struct TileKernels {
  const char* name;
  TileKernel i8;
  TileKernel i4;
  QuantizeRow quantize;
  TileKernel i4_asym;  // reads x.block_sum and w.mins
  TileKernel i5_asym;  // the same, with the codes' fifth bit from the block's masks
  TileKernel i6;       // symmetric 6-bit codes: int4 blocks plus two mask planes
};

// Bytes of one packed block of one tile.
inline constexpr int64_t kTileBlockBytesI8 = kTileRows * kTileBlock;
inline constexpr int64_t kTileBlockBytesI4 = kTileRows * kTileBlock / 2;
// 5-bit: the int4 block, then 8 little-endian 64-bit masks (one per chunk c, bit 4r + j the
// fifth bit of row r's code 4c + j), read with mask registers on AVX-512.
inline constexpr int64_t kTileBlockBytesI5 = kTileBlockBytesI4 + 8 * 8;
// 6-bit: the int4 block, the bit-4 masks as in 5-bit, then 8 more for bit 5.
inline constexpr int64_t kTileBlockBytesI6 = kTileBlockBytesI4 + 2 * 8 * 8;

constexpr int64_t tile_block_bytes(TileFormat f) {
  return f == TileFormat::kInt8       ? kTileBlockBytesI8
         : f == TileFormat::kInt5Asym ? kTileBlockBytesI5
         : f == TileFormat::kInt6     ? kTileBlockBytesI6
                                      : kTileBlockBytesI4;
}
// How far ahead (in blocks of one tile; past its end is the next tile) the multi-row tile
// kernels prefetch weights and scales: quant_tiles_avx512.cpp says why.
inline constexpr int64_t kPrefetchBlocks = 8;

// Packs a canonical int8 [n][k] (or int4, element j in the low nibble of byte j / 2 when j
// is even) weight with scales [n][k / group] into tiles. k and group are multiples of 32.
void pack_tiles_i8(const int8_t* q, const float* scales, int64_t n, int64_t k, int64_t group,
                   std::vector<uint8_t>& data, std::vector<float>& packed_scales);
void pack_tiles_i4(const uint8_t* q, const float* scales, int64_t n, int64_t k, int64_t group,
                   std::vector<uint8_t>& data, std::vector<float>& packed_scales);
// Packs int8 [n][k] within -32..31 (GGUF Q6_K, Q5_0) into 6-bit tiles (u = w + 32).
void pack_tiles_i6(const int8_t* q, const float* scales, int64_t n, int64_t k, int64_t group,
                   std::vector<uint8_t>& data, std::vector<float>& packed_scales);
// Packs canonical uint8 codes [n][k] below 32 (GGUF Q5_1 / Q5_K) into 5-bit tiles.
void pack_tiles_i5(const uint8_t* codes, const float* scales, int64_t n, int64_t k, int64_t group,
                   std::vector<uint8_t>& data, std::vector<float>& packed_scales);
// Packs per-row per-group values (scales, or mins) [n][groups] into [tile][group][16 rows],
// padding rows 0.
void pack_tile_scales(const float* scales, int64_t n, int64_t groups, std::vector<float>& out);
// Row r (< 16) of a packed tile in f32, for the float fallback (non-finite activations,
// cpu.q8_activations=0).
void unpack_tile_row(const QuantTile& w, TileFormat format, int64_t r, float* out);

// Whether a weight of this format and group size (along K, a multiple of 32) can be tiled:
// groups of whole 32-blocks, or groups of 16 for all but the 5-bit tiles.
constexpr bool tileable_group(TileFormat f, int64_t group) {
  return group % kTileBlock == 0 || (group == kTileBlock / 2 && f != TileFormat::kInt5Asym);
}

// A whole tiled weight [n][k] and the linear call over it: out [m][n] = x [m][k] . W^T.
// Activations are quantized once per call (or, with q8 false or a non-finite value, every
// tile row is unpacked to f32 and dotted: exact up to f32 rounding, NaN/Inf carried through).
struct TiledWeight {
  const uint8_t* data;
  const TileScales* scales;  // and mins
  int64_t n;
  int64_t k;
  int64_t group;
  TileFormat format;
  QuantTile tile(int64_t t) const;
};
// How a weight's calls run, read from the host's options once, at prepack.
struct TileRun {
  bool q8 = true;   // cpu.q8_activations: integer kernels on int8 activations (else float)
  bool amx = true;  // cpu.amx: AMX tiles for calls of kAmxMinRows rows or more, where usable
};
TileRun tile_run_options();
void run_tiles(const TiledWeight& w, const float* x, int64_t m, float* out, const TileRun& run);

// AMX-INT8 (Intel Sapphire Rapids and later), for prefill-sized calls: tdpbssd multiplies
// 16 activation rows by 16 weight rows over one 32-block in one instruction (a 16x32 int8
// tile times a 32x16 one: the tile block's own chunk layout, which is AMX's "VNNI" layout of
// the second operand). Per call, each tile's codes are first written out as signed int8
// (w = u - offset; asymmetric formats keep u) into the int8 tile layout, so one kernel
// serves every format. The per-block scaling that follows is the VNNI kernel's, in its order,
// on the same exact integer sums: results are bitwise equal to the VNNI path's (tested).
inline constexpr int64_t kAmxMinRows = 16;
struct AmxTileKernels {
  // The tile's codes as signed int8 blocks of kTileBlockBytesI8 bytes (w.blocks of them).
  void (*materialize)(const QuantTile& w, int8_t* codes);
  // Configures the calling thread's tiles for split (groups of 16) or whole blocks; rows16
  // calls go between begin and end (which releases the tile state).
  void (*begin)(bool split);
  // out[i * ldo + r] for i < m_valid, r < n_valid: exactly 16 rows of x (a partial chunk is
  // padded by the caller) against one materialized tile.
  void (*rows16)(const QuantTile& w, const int8_t* codes, const Q8Rows& x, float* out, int64_t ldo,
                 int64_t n_valid, int64_t m_valid);
  void (*end)();
};
// Whether the CPU, the OS (XCR0 tile state, Linux's arch_prctl permission, requested here
// once) and the build have AMX-INT8 and AVX-512.
bool amx_int8_usable();
// NULL where the CPU, the OS (XCR0 tile state, Linux's arch_prctl permission) or the build
// lacks AMX-INT8, or the active ISA is not avx512 (the scaling is AVX-512 code).
const AmxTileKernels* amx_tile_kernels(TileFormat format);

const TileKernels& tile_kernels_generic();
// NULL where the build or the CPU lacks the instructions (AVX-512 needs VNNI as well).
const TileKernels* tile_kernels_avx2();
const TileKernels* tile_kernels_avx512_vnni();

// The set matching the active ISA (select_isa() calls set_tile_kernels).
const TileKernels& tile_kernels();
void set_tile_kernels(Isa isa);

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_QUANT_TILES_H
