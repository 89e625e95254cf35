// Linear with 16-bit float weights (F16, BF16) kept 16-bit: a decode step reads 2 bytes per
// weight, not the 4 of a widened f32 copy (issue 17: `--dtype auto` on the CPU used to double
// the bytes a step reads).
//
// Layout: the canonical row-major [n][k] 16-bit rows, copied once at prepack.
//
// Small batches (M < kHalfGemmMinRows, decode): a GEMV that reads each weight row once for
// all activation rows. Blocks of 4 weight rows (L1-resident) are widened to f32 in registers
// (F16C vcvtph2ps for F16, a 16-bit shift for BF16) and multiplied with FMA into f32 sums of
// up to 4 activation rows at a time (AVX-512: 16 accumulators; AVX2: 2 rows, 8 accumulators;
// generic C++ otherwise). Activations stay f32, so the only error is f32 rounding of the
// sums: |y - exact| <= gamma_k * sum_j |x_j * w_j| with gamma_k = k * 2^-24 / (1 - k * 2^-24)
// (the standard bound for a recursive or blocked f32 dot product; tests check it on every ISA).
//
// Larger batches (prefill): tiles of weight rows widened to f32 and multiplied with oneDNN's
// sgemm (tiled_sgemm.h), the f32 GEMM being the fastest exact path oneDNN 2.6 offers here.
#ifndef TESSERA_PLUGINS_CPU_LINEAR_HALF_H
#define TESSERA_PLUGINS_CPU_LINEAR_HALF_H

#include <cstdint>
#include <memory>
#include <vector>

#include "tessera/plugin.h"

namespace tsr::cpu {

// At and above this many activation rows the tile + sgemm path is taken.
inline constexpr int64_t kHalfGemmMinRows = 16;

// out[i * ldo + r] = sum_j x[i * k + j] * widen(w[r * k + j]) for r < rows, i < m (m < 16).
using HalfGemv = void (*)(const uint16_t* w, int64_t rows, int64_t k, const float* x, int64_t m,
                          float* out, int64_t ldo);

struct HalfGemvKernels {
  HalfGemv f16;
  HalfGemv bf16;
};

const HalfGemvKernels& half_gemv_generic();
// NULL when the build's compiler could not target the ISA.
const HalfGemvKernels* half_gemv_avx2();
const HalfGemvKernels* half_gemv_avx512();

class HalfWeight {
 public:
  // desc has been validated; format is F16 or BF16.
  static std::unique_ptr<HalfWeight> create(const tsr_weight_desc& desc);

  uint64_t bytes() const { return data_.size() * sizeof(uint16_t); }
  bool bf16() const { return bf16_; }
  // out [m][n] f32 = x [m][k] f32 · W^T.
  void run(const float* x, int64_t m, float* out) const;
  // Rows [row0, row0 + rows) of W widened to f32, row-major with k columns.
  void widen_rows(int64_t row0, int64_t rows, float* out) const;

 private:
  int64_t n_ = 0;
  int64_t k_ = 0;
  bool bf16_ = false;
  std::vector<uint16_t> data_;
};

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_LINEAR_HALF_H
