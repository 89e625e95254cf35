// Linear with INT8_GROUP_ASYM weights (ABI 1.2): w = u * scale + min per group, u in 0..255.
// GGUF Q5_1 and Q5_K map here without loss, with codes 0..31.
//
// Prepacked layouts. When K and the group are multiples of 32 and every code is below 32 (all
// Q5 remaps), the weight becomes 5-bit row-interleaved tiles (quant_tiles.h, TileFormat::
// kInt5Asym: the low 4 bits as int4 tiles, the fifth bits as per-chunk masks) and runs the
// integer tile kernels at every batch size, decode and prefill: 5 bits of codes per weight
// (7 with the f32 scale and min per group of 32) read once per call, never widened to f32.
// Their error bound is quant_tiles.h's, with |w_j| read as |u_j * scale|.
// Other weights keep the canonical uint8 codes, one row after another:
//
// Decode (M < kAsym8GemmMinRows) with int8 activations, as linear_asym.h: activation rows are
// quantized once per call to int8 in blocks of 32 (scale xs_b = absmax / 127, round to nearest,
// |xq| <= 127) with f32 sums per weight group, and
//   y = sum_g scale_g * sum_{b in g} xs_b * sum_j u_j * xq_j  +  sum_g min_g * sum_{j in g} x_j.
// The integer sums are exact (the code's top bit is multiplied separately on AVX2, and VNNI's
// vpdpbusd does not saturate). The kernels take up to kAsym8MaxRows activation rows per call,
// so each block of a weight row is loaded once for all of them. Error bound against exact
// arithmetic, per output: sum_j |scale_g(j) * u_j| * xs_b(j) / 2 (activation rounding; the
// min term uses the f32 sums and adds none) plus f32 rounding of the block sums, within
// K * 2^-23 * sum_j |w_j x_j| (tests/cpu_plugin/linear_asym8_test.cpp checks both, for the
// tiles too). cpu.q8_activations=0, non-finite activations, and K or groups that are not
// multiples of 32 take the float path (each row dequantized into f32 and dotted: f32 rounding
// only). Prefill (M >= kAsym8GemmMinRows): rows dequantized to f32 and oneDNN's sgemm, as
// linear_asym.cpp.
//
// Hand-written: no packaged library runs GGUF-style asymmetric 5/8-bit weights on the CPU.
#ifndef TESSERA_PLUGINS_CPU_LINEAR_ASYM8_H
#define TESSERA_PLUGINS_CPU_LINEAR_ASYM8_H

#include <cstdint>
#include <memory>
#include <vector>

#include "quant_tiles.h"
#include "tessera/plugin.h"

namespace tsr::cpu {

// Activation rows one kernel call takes (accumulators held in registers).
constexpr int64_t kAsym8MaxRows = 4;
// M at and above which the tile + sgemm path is taken (tests mirror this value).
constexpr int64_t kAsym8GemmMinRows = 32;

// out[i] = sum_b scales[b * 32 / group] * xs[i * K/32 + b] * sum_j u_j * xq[i * k + b * 32 + j]
// for i < rows (1..kAsym8MaxRows), over one weight row `q` of uint8 codes.
using Asym8Dot = void (*)(const int8_t* xq, const float* xs, int64_t rows, const uint8_t* q,
                          const float* scales, int64_t group, int64_t k, float* out);

struct Asym8Kernels {
  const char* name;
  Asym8Dot dot_uint8;
};

const Asym8Kernels* asym8_kernels_generic();
// NULL when the build's compiler or the CPU lacks the instructions (the AVX-512 set needs VNNI).
const Asym8Kernels* asym8_kernels_avx2();
const Asym8Kernels* asym8_kernels_avx512_vnni();
// The set for the active ISA (AVX-512 without VNNI runs the AVX2 set).
const Asym8Kernels& active_asym8_kernels();

class AsymInt8Weight {
 public:
  // desc has been validated (format, shapes, pointers incl. mins, group size).
  static std::unique_ptr<AsymInt8Weight> create(const tsr_weight_desc& desc);

  uint64_t bytes() const;
  bool five_bit() const { return five_bit_; }
  // out [m][n] f32 = x [m][k] f32 · W^T.
  void run(const float* x, int64_t m, float* out) const;
  // Row `row` of W in f32 (k values).
  void dequant_row(int64_t row, float* out) const;

 private:
  TiledWeight tiles() const;  // when five_bit_

  int64_t n_ = 0;
  int64_t k_ = 0;
  int64_t group_ = 0;
  TileRun run_;            // cpu.q8_activations, cpu.amx at prepack
  bool five_bit_ = false;  // 5-bit tiles (quant_tiles.h); else uint8 rows
  std::vector<uint8_t> data_;
  std::vector<float> scales_;  // uint8 rows: [n][groups]
  std::vector<float> mins_;
  TileScales tile_scales_;  // 5-bit tiles
};

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_LINEAR_ASYM8_H
