// Quantized linear (INT8_PER_CHANNEL, INT8_GROUP, INT4_GROUP, FP8_E4M3) with our own
// dequantizing kernels. The canonical layouts are already row-major by output channel,
// the order a GEMV streams, so prepacking is a copy of data and scales.
//
// Why not oneDNN for int8 per-channel: oneDNN 2.6 has no weight-only (decompression)
// matmul; its int8 matmul wants int8/uint8 activations for the whole GEMM.
//
// Small M (decode), int8/int4 weights: the activation rows are quantized once per call to
// int8 in blocks of 32 (scale absmax/127, llama.cpp's Q8 scheme) and every weight row is
// consumed by integer dot products (maddubs) with one float scaling per block: 2-4x faster
// than dequantizing to f32, at about 0.4% extra error on a layer's output (a 4-bit weight
// costs ~10%). Weight groups that are not multiples of 32, non-finite activations and the
// plugin option cpu.q8_activations=0 take fused float dot products instead (exact up to f32
// rounding). fp8 weights dequantize each row into L1-resident f32.
// Large M (prefill): tiles of rows are dequantized in parallel into f32 and multiplied
// with oneDNN's sgemm, which is compute-bound and shares the same OpenMP pool.
#ifndef TESSERA_PLUGINS_CPU_LINEAR_QUANT_H
#define TESSERA_PLUGINS_CPU_LINEAR_QUANT_H

#include <cstdint>
#include <memory>
#include <vector>

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

 private:
  tsr_weight_format format_ = TSR_WEIGHT_FORMAT_INT8_GROUP;
  int64_t n_ = 0;
  int64_t k_ = 0;
  int64_t group_ = 0;  // along K; k_ for per-channel formats
  std::vector<uint8_t> data_;
  std::vector<float> scales_;
};

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_LINEAR_QUANT_H
