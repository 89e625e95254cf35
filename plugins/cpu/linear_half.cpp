// F16 / BF16 / F32 linear (see linear_half.h): prepack, the generic GEMV, dispatch and the
// tile + sgemm path.
#include "linear_half.h"

#include <algorithm>
#include <cstring>

#include "cpu_internal.h"
#include "isa.h"
#include "kernels.h"
#include "parallel.h"
#include "tessera/plugin.hpp"
#include "tiled_sgemm.h"

namespace tsr::cpu {
namespace {

// Weight rows per pool work item: enough to amortize the item, few enough to balance.
constexpr int64_t kRowsPerItem = 16;

template <FloatElem E>
void gemv_generic(const FloatElemType<E>* w, int64_t rows, int64_t k, const float* x, int64_t m,
                  float* out, int64_t ldo) {
  // One widened row at a time in L1, reused by up to kChunk activation rows.
  constexpr int64_t kChunk = 16;
  float wide[512];
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i0 = 0; i0 < m; i0 += kChunk) {
      const int64_t chunk = std::min(kChunk, m - i0);
      float acc[kChunk] = {};
      for (int64_t j0 = 0; j0 < k; j0 += 512) {
        const int64_t len = std::min<int64_t>(512, k - j0);
        const auto* src = w + r * k + j0;
        for (int64_t j = 0; j < len; ++j) wide[j] = widen_scalar<E>(src[j]);
        for (int64_t i = 0; i < chunk; ++i) {
          const float* xi = x + (i0 + i) * k + j0;
          float sum = 0.0f;
          for (int64_t j = 0; j < len; ++j) sum += xi[j] * wide[j];
          acc[i] += sum;
        }
      }
      for (int64_t i = 0; i < chunk; ++i) out[(i0 + i) * ldo + r] = acc[i];
    }
  }
}

const HalfGemvKernels kGeneric{&gemv_generic<FloatElem::kF16>, &gemv_generic<FloatElem::kBf16>,
                               &gemv_generic<FloatElem::kF32>};

const HalfGemvKernels& active_gemv() {
  const HalfGemvKernels* set = nullptr;
  if (active_isa() == Isa::kAvx512) set = half_gemv_avx512();
  if (set == nullptr && active_isa() != Isa::kGeneric) set = half_gemv_avx2();
  return set != nullptr ? *set : kGeneric;
}

// out [m][n] = x · W^T for W [n][k] row-major, blocks of kRowsPerItem weight rows spread over
// the pool.
template <class T>
void run_gemv(void (*gemv)(const T*, int64_t, int64_t, const float*, int64_t, float*, int64_t),
              const T* w, int64_t n, int64_t k, const float* x, int64_t m, float* out) {
  const int64_t items = (n + kRowsPerItem - 1) / kRowsPerItem;
  parallel_for(items, [&](int64_t item) {
    const int64_t row0 = item * kRowsPerItem;
    gemv(w + row0 * k, std::min(kRowsPerItem, n - row0), k, x, m, out + row0, n);
  });
}

}  // namespace

const HalfGemvKernels& half_gemv_generic() {
  return kGeneric;
}

std::unique_ptr<HalfWeight> HalfWeight::create(const tsr_weight_desc& desc) {
  auto w = std::make_unique<HalfWeight>();
  w->n_ = desc.rows;
  w->k_ = desc.cols;
  w->bf16_ = desc.format == TSR_WEIGHT_FORMAT_BF16;
  w->amx_ = amx_option_enabled();
  w->data_.resize(static_cast<size_t>(desc.rows * desc.cols));
  std::memcpy(w->data_.data(), desc.data, w->data_.size() * sizeof(uint16_t));
  return w;
}

void HalfWeight::widen_rows(int64_t row0, int64_t rows, float* out) const {
  const Kernels& kern = kernels();
  const uint16_t* src = data_.data() + row0 * k_;
  if (bf16_) {
    kern.bf16_to_f32(src, out, rows * k_);
  } else {
    kern.f16_to_f32(src, out, rows * k_);
  }
}

void HalfWeight::run(const float* x, int64_t m, float* out) const {
  if (m <= 0) return;
  if (m >= kHalfGemmMinRows) {
    if (bf16_ && amx_ && active_isa() == Isa::kAvx512 &&
        bf16_amx_gemm(data_.data(), n_, k_, x, m, out)) {
      return;
    }
    const WidenRows widen = [](const void* weight, int64_t row0, int64_t rows, float* tile) {
      static_cast<const HalfWeight*>(weight)->widen_rows(row0, rows, tile);
    };
    tiled_sgemm(x, m, n_, k_, out, widen, this);
    return;
  }
  run_gemv(bf16_ ? active_gemv().bf16 : active_gemv().f16, data_.data(), n_, k_, x, m, out);
}

std::unique_ptr<F32Weight> F32Weight::create(const tsr_weight_desc& desc) {
  auto w = std::make_unique<F32Weight>();
  w->n_ = desc.rows;
  w->k_ = desc.cols;
  w->data_.resize(static_cast<size_t>(desc.rows * desc.cols));
  // memcpy: the file's mapping may place an f32 tensor off a 4-byte boundary.
  std::memcpy(w->data_.data(), desc.data, w->data_.size() * sizeof(float));
  return w;
}

void F32Weight::run(const float* x, int64_t m, float* out) const {
  if (m <= 0) return;
  if (m >= kF32GemmMinRows) {
    const WidenRows copy = [](const void* weight, int64_t row0, int64_t rows, float* tile) {
      const auto* self = static_cast<const F32Weight*>(weight);
      std::memcpy(tile, self->data_.data() + row0 * self->k_,
                  static_cast<size_t>(rows * self->k_) * sizeof(float));
    };
    tiled_sgemm(x, m, n_, k_, out, copy, this);
    return;
  }
  run_gemv(active_gemv().f32, data_.data(), n_, k_, x, m, out);
}

}  // namespace tsr::cpu
