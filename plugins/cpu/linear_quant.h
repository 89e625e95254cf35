// Quantized linear (INT8_PER_CHANNEL, INT8_GROUP, INT4_GROUP, FP8_E4M3) with our own
// kernels.
//
// int8/int4 weights whose groups are whole 32-blocks (GGUF Q8_0/Q4_0, --quantization
// int8|int4 on hidden sizes that are multiples of 32, int8 per-channel) or groups of 16 with
// K a multiple of 32 (GGUF Q6_K, Q3_K: split tiles) are repacked at prepack into
// row-interleaved tiles (quant_tiles.h); int8 weights whose values all lie in -32..31 (Q6_K,
// Q5_0) take the 6-bit tiles, 6 bits per weight instead of 8. Every call quantizes its activation
// rows once to int8 per 32-block and runs integer tile kernels over all M rows at once, for
// decode batches and prefill alike: each weight byte is read once per call whatever M is,
// and the weights are never widened to f32 (the ~0.4% activation-quantization error is
// bounded in quant_tiles.h). Non-finite activations and cpu.q8_activations=0 take a float
// path over the same tiles (each tile row unpacked to f32).
//
// The other layouts (fp8; other int8/int4 groups, K not a multiple of 32) keep the
// canonical layout, row-major by output channel: for M < 8 fused float dot products per
// weight row (exact up to f32 rounding; fp8 rows dequantize into L1-resident f32), for
// larger M tiles of rows dequantized in parallel into f32 and multiplied with oneDNN's
// sgemm, which shares the same OpenMP pool.
//
// Why not oneDNN for int8: oneDNN 2.6 has no weight-only (decompression) matmul; its int8
// matmul wants int8/uint8 activations with one scale per tensor or channel, not per block.
#ifndef TESSERA_PLUGINS_CPU_LINEAR_QUANT_H
#define TESSERA_PLUGINS_CPU_LINEAR_QUANT_H

#include <cstdint>
#include <memory>
#include <vector>

#include "quant_tiles.h"
#include "tessera/plugin.h"

namespace tsr::cpu {

class QuantWeight {
 public:
  // desc has been validated (format, shapes, pointers, group size).
  static std::unique_ptr<QuantWeight> create(const tsr_weight_desc& desc);

  uint64_t bytes() const;
  // out [m][n] f32 = x [m][k] f32 · W^T.
  void run(const float* x, int64_t m, float* out) const;
  // Row `row` of W in f32 (k values).
  void dequant_row(int64_t row, float* out) const;
  // True when the weight lives in row-interleaved tiles (quant_tiles.h).
  bool tiled() const { return tiled_; }

 private:
  TiledWeight tiles() const;  // when tiled_
  void run_canonical(const float* x, int64_t m, float* out) const;

  tsr_weight_format format_ = TSR_WEIGHT_FORMAT_INT8_GROUP;
  int64_t n_ = 0;
  int64_t k_ = 0;
  int64_t group_ = 0;  // along K; k_ for per-channel formats
  bool tiled_ = false;
  TileRun run_;                                 // cpu.q8_activations, cpu.amx at prepack
  TileFormat tile_format_ = TileFormat::kInt8;  // when tiled_: kInt8, kInt6 or kInt4
  std::vector<uint8_t> data_;
  std::vector<float> scales_;  // canonical layout: [n][k / group_]
  TileScales tile_scales_;     // tiled
};

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_LINEAR_QUANT_H
