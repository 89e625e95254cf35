// Linear with INT4_GROUP_ASYM weights: w = u * scale + min per group, u in 0..15 (GGUF Q4_1
// and the K-quants' 4-bit sub-blocks map here without loss).
//
// Prepacked layout: when K is a multiple of 32 and the group size one too (Q4_1, Q4_K) or 16
// (Q2_K: split tiles), the row-interleaved int4 tiles of quant_tiles.h with per-group mins
// packed beside the scales.
// Every call, decode or prefill, quantizes its activation rows once to int8 per 32-block and
// runs the integer tile kernels (AVX-512 VNNI, AVX2, generic) over all rows:
//   y = sum_b [ scale_g(b) * xs_b * sum_{j in b} u_j * xq_j  +  min_g(b) * sum_{j in b} x_j ]
// with exact integer products and the blocks' f32 activation sums, so the min part adds no
// activation rounding: the error is at most sum_j |scale * u_j| * xs_b(j) / 2 per output plus
// f32 rounding (quant_tiles.h; tested on every ISA). cpu.q8_activations=0 and non-finite
// activations take the float path over the same tiles.
//
// Other shapes (K not a multiple of 32) keep the canonical layout (two
// elements per byte, the even one in the low nibble) and compute in f32 on the exact
// dequantized weights: below 32 rows each weight row is dequantized into L1 and dotted, from
// 32 rows tiles of rows are dequantized into f32 and multiplied with oneDNN's sgemm.
//
// Hand-written: no packaged library runs GGUF-style asymmetric 4-bit weights on the CPU.
#ifndef TESSERA_PLUGINS_CPU_LINEAR_ASYM_H
#define TESSERA_PLUGINS_CPU_LINEAR_ASYM_H

#include <cstdint>
#include <memory>
#include <vector>

#include "quant_tiles.h"
#include "tessera/plugin.h"

namespace tsr::cpu {

// One activation row into int8 blocks of 32 (scale xs[b] = absmax / 127, round to nearest) and
// its f32 sums per weight group (k and group multiples of 32). False when the row has a NaN or
// Inf. Used by the INT8_GROUP_ASYM GEMV (linear_asym8.cpp).
bool quantize_q8_row(const float* x, int64_t k, int64_t group, int8_t* xq, float* xs,
                     float* group_sums);

class AsymInt4Weight {
 public:
  // desc has been validated (format, shapes, pointers incl. mins, group size).
  static std::unique_ptr<AsymInt4Weight> create(const tsr_weight_desc& desc);

  uint64_t bytes() const;
  // out [m][n] f32 = x [m][k] f32 · W^T.
  void run(const float* x, int64_t m, float* out) const;
  // Row `row` of W in f32 (k values).
  void dequant_row(int64_t row, float* out) const;

 private:
  TiledWeight tiles() const;  // when tiled_

  int64_t n_ = 0;
  int64_t k_ = 0;
  int64_t group_ = 0;
  TileRun run_;         // cpu.q8_activations, cpu.amx at prepack
  bool tiled_ = false;  // row-interleaved int4 tiles (quant_tiles.h), mins beside the scales
  std::vector<uint8_t> data_;
  std::vector<float> scales_;  // canonical layout: [n][groups]
  std::vector<float> mins_;
  TileScales tile_scales_;  // tiled
};

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_LINEAR_ASYM_H
