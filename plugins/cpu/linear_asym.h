// Linear with INT4_GROUP_ASYM weights: w = u * scale + min per group, u in 0..15 (GGUF Q4_1
// and the K-quants' 4-bit sub-blocks map here without loss).
//
// Prepacked layout: when K is a multiple of 32, each row is blocks of 32 elements in 16 bytes,
// element j of a block in the low nibble of byte j and element j + 16 in its high nibble
// (llama.cpp's Q4 nibble order), so one 16-byte load unpacks with a mask and a shift into 32
// elements in order. Other K keep the canonical pair packing and take the float path only.
//
// Decode (M < 8), groups a multiple of 32: activation rows are quantized once per call to
// int8 in blocks of 32 (scale absmax / 127, rounded to nearest), and for each weight row
//   y = sum_g scale_g * sum_{b in g} xs_b * sum_j u_j * xq_j  +  sum_g min_g * sum_{j in g} x_j
// The first term is exact integer dot products (maddubs: u unsigned, xq signed) with one
// float scaling per block; the second uses the f32 activation sums per group, so the min
// part adds no activation rounding. The error against exact arithmetic is at most
// sum_j |scale_g(j) * u_j| * xs_b(j) / 2 per output, plus f32 rounding (tests check this
// bound). The option cpu.q8_activations=0, non-finite activations and other groups take the
// float path: each row dequantized into L1-resident f32 and dotted (f32 rounding only).
// Prefill (M >= 8): tiles of rows dequantized in parallel into f32 and multiplied with
// oneDNN's sgemm, as linear_quant.cpp does for the symmetric formats.
//
// Hand-written: no packaged library runs GGUF-style asymmetric 4-bit weights on the CPU.
#ifndef TESSERA_PLUGINS_CPU_LINEAR_ASYM_H
#define TESSERA_PLUGINS_CPU_LINEAR_ASYM_H

#include <cstdint>
#include <memory>
#include <vector>

#include "tessera/plugin.h"

namespace tsr::cpu {

// The ISA-specific inner loop of the integer GEMV over one prepacked row (split-nibble
// blocks of 32): sum_b scales[b * 32 / group] * xs[b] * sum_j u_j * xq[b * 32 + j].
using AsymDotQ8 = float (*)(const int8_t* xq, const float* xs, const uint8_t* q,
                            const float* scales, int64_t group, int64_t k);

float asym_dot_q8_generic(const int8_t* xq, const float* xs, const uint8_t* q, const float* scales,
                          int64_t group, int64_t k);
// NULL when the build's compiler could not target the ISA.
AsymDotQ8 asym_dot_q8_avx2();
AsymDotQ8 asym_dot_q8_avx512();

// The host option cpu.q8_activations (default on): whether decode quantizes activations to int8.
bool q8_activations_enabled();
// One activation row into int8 blocks of 32 (scale xs[b] = absmax / 127, round to nearest) and
// its f32 sums per weight group (k and group multiples of 32). False when the row has a NaN or
// Inf. Shared by the asymmetric formats' GEMVs.
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
  int64_t n_ = 0;
  int64_t k_ = 0;
  int64_t group_ = 0;
  bool split_nibbles_ = false;  // the 32-block layout above (K % 32 == 0)
  std::vector<uint8_t> data_;
  std::vector<float> scales_;
  std::vector<float> mins_;
};

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_LINEAR_ASYM_H
