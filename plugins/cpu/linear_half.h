// Linear with float weights kept in the file's precision: F16 and BF16 stay 16-bit (a decode
// step reads 2 bytes per weight, not the 4 of a widened f32 copy; issue 17: `--dtype auto` on
// the CPU used to double the bytes a step reads), and F32 takes the same kernels with a plain
// load instead of a widening one. F32 used to go through oneDNN's matmul, whose C++ API
// allocates memory objects and an argument map on every call; a steady decode step must not
// allocate (issue 12), and the GEMV below is as fast at these batch sizes.
//
// Layout: the canonical row-major [n][k] rows, copied once at prepack.
//
// Small batches (M < kHalfGemmMinRows, decode; F32: M < kF32GemmMinRows): a GEMV that reads each
// weight row once for all activation rows. Blocks of 4 weight rows (L1-resident) are widened to f32
// in registers (F16C vcvtph2ps for F16, a 16-bit shift for BF16, nothing for F32) and multiplied
// with FMA into f32 sums of up to 4 activation rows at a time (AVX-512: 16 accumulators; AVX2: 2
// rows, 8 accumulators; generic C++ otherwise). Activations stay f32, so the only error is f32
// rounding of the sums: |y - exact| <= gamma_k * sum_j |x_j * w_j| with gamma_k = k * 2^-24 / (1 -
// k * 2^-24) (the standard bound for a recursive or blocked f32 dot product; tests check it on
// every ISA).
//
// Larger batches (prefill): tiles of weight rows widened to f32 (F32: copied) and multiplied
// with oneDNN's sgemm (tiled_sgemm.h), the f32 GEMM being the fastest exact path oneDNN 2.6
// offers here. BF16 weights on a CPU with AMX-BF16 (unless cpu.amx=0) instead run on AMX
// tiles straight from the stored rows, with each activation split into two bf16 halves
// (linear_half_amx.cpp: |y - exact| <= (gamma_2k + 2^-18) sum_j |x_j w_j|); shapes it does
// not take (N not a multiple of 32, K of 32) and non-finite activations keep the sgemm path.
#ifndef TESSERA_PLUGINS_CPU_LINEAR_HALF_H
#define TESSERA_PLUGINS_CPU_LINEAR_HALF_H

#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "tessera/plugin.h"
#include "tessera/plugin.hpp"

namespace tsr::cpu {

// At and above this many activation rows the tile + sgemm path is taken.
inline constexpr int64_t kHalfGemmMinRows = 16;
// The same for F32 weights. The GEMV re-reads the activations once per 4-row weight block,
// which pays while they stay in L2 (128 rows x K 2048 x 4 bytes = 1 MiB); measured on the
// 125M model (K 768, Zen 5, 2 threads) the GEMV beat the tiles at 32-192 rows (1.1-1.4x) and
// matched them at 512, while per-tile sgemm calls on 32 rows ran at 0.65x oneDNN's matmul.
// Known cost: at 256-512 rows the copied tiles run at about 0.9x oneDNN's f32 matmul, which
// reorders the weight to [k][n] (a second copy the GEMV cannot read).
inline constexpr int64_t kF32GemmMinRows = 128;

// out[i * ldo + r] = sum_j x[i * k + j] * widen(w[r * k + j]) for r < rows, i < m (any m; used
// below the path's GEMM threshold).
using HalfGemv = void (*)(const uint16_t* w, int64_t rows, int64_t k, const float* x, int64_t m,
                          float* out, int64_t ldo);
// The same for f32 weights.
using F32Gemv = void (*)(const float* w, int64_t rows, int64_t k, const float* x, int64_t m,
                         float* out, int64_t ldo);

struct HalfGemvKernels {
  HalfGemv f16;
  HalfGemv bf16;
  F32Gemv f32;
};

// The weight element a GEMV kernel template is instantiated for, its storage type, and one
// element widened to f32 (the kernels' scalar tails and the generic GEMV).
enum class FloatElem { kF16, kBf16, kF32 };
template <FloatElem E>
using FloatElemType = std::conditional_t<E == FloatElem::kF32, float, uint16_t>;
template <FloatElem E>
inline float widen_scalar(FloatElemType<E> v) {
  if constexpr (E == FloatElem::kF32) {
    return v;
  } else if constexpr (E == FloatElem::kBf16) {
    return tsr::sdk::bf16_to_f32(v);
  } else {
    return tsr::sdk::f16_to_f32(v);
  }
}

// Whether the CPU, the OS and the build have AMX-BF16 (quant_tiles.h's amx_int8_usable() also
// holds: it asks Linux for the tile permission).
bool amx_bf16_usable();
// out [m][n] = x [m][k] f32 . W^T for BF16 W [n][k] row-major on AMX tiles
// (linear_half_amx.cpp); false, with out untouched, when AMX-BF16 is not usable, the shape is
// not one it takes, or x has a non-finite value.
bool bf16_amx_gemm(const uint16_t* w, int64_t n, int64_t k, const float* x, int64_t m, float* out);

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
  bool amx_ = true;  // cpu.amx at prepack
  std::vector<uint16_t> data_;
};

// F32 weights, row-major, with the same GEMV / tiled sgemm split.
class F32Weight {
 public:
  // desc has been validated; format is F32 (desc->data may be unaligned).
  static std::unique_ptr<F32Weight> create(const tsr_weight_desc& desc);

  uint64_t bytes() const { return data_.size() * sizeof(float); }
  // out [m][n] f32 = x [m][k] f32 · W^T.
  void run(const float* x, int64_t m, float* out) const;

 private:
  int64_t n_ = 0;
  int64_t k_ = 0;
  std::vector<float> data_;
};

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_LINEAR_HALF_H
