// INT8_GROUP_ASYM linear (see linear_asym8.h): prepacking (5-bit tiles or uint8 rows), the generic
// integer kernels, the kernel choice, the float GEMV and the dequantize-tile + sgemm path.
#include "linear_asym8.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "cpu_internal.h"
#include "isa.h"
#include "kernels.h"
#include "linear_asym.h"
#include "parallel.h"
#include "quant_tiles.h"
#include "tiled_sgemm.h"

namespace tsr::cpu {
namespace {

constexpr int64_t kBlock = 32;  // activation quantization block

void dot_rows_generic(const int8_t* xq, const float* xs, int64_t rows, const uint8_t* q,
                      const float* scales, int64_t group, int64_t k, float* out) {
  const int64_t blocks = k / kBlock;
  for (int64_t i = 0; i < rows; ++i) out[i] = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* u = q + b * kBlock;
    const float scale = scales[b * kBlock / group];
    for (int64_t i = 0; i < rows; ++i) {
      const int8_t* xb = xq + i * k + b * kBlock;
      int32_t sum = 0;
      for (int j = 0; j < kBlock; ++j) sum += u[j] * xb[j];
      out[i] += scale * xs[i * blocks + b] * static_cast<float>(sum);
    }
  }
}

}  // namespace

const Asym8Kernels* asym8_kernels_generic() {
  static const Asym8Kernels table = {"generic", dot_rows_generic};
  return &table;
}

const Asym8Kernels& active_asym8_kernels() {
  const Asym8Kernels* set = nullptr;
  if (active_isa() == Isa::kAvx512) set = asym8_kernels_avx512_vnni();
  if (set == nullptr && active_isa() != Isa::kGeneric) set = asym8_kernels_avx2();
  return set != nullptr ? *set : *asym8_kernels_generic();
}

std::unique_ptr<AsymInt8Weight> AsymInt8Weight::create(const tsr_weight_desc& desc) {
  auto w = std::make_unique<AsymInt8Weight>();
  w->run_ = tile_run_options();
  w->n_ = desc.rows;
  w->k_ = desc.cols;
  w->group_ = desc.group_size;
  const auto* src = static_cast<const uint8_t*>(desc.data);
  const size_t count = static_cast<size_t>(desc.rows) * static_cast<size_t>(desc.cols);
  w->five_bit_ = desc.cols % kBlock == 0 && desc.group_size % kBlock == 0 &&
                 std::all_of(src, src + count, [](uint8_t u) { return u < 32; });
  if (w->five_bit_) {
    // 5-bit tiles (quant_tiles.h), the mins packed like the scales.
    std::vector<float> scales;
    std::vector<float> mins;
    pack_tiles_i5(src, desc.scales, desc.rows, desc.cols, desc.group_size, w->data_, scales);
    pack_tile_scales(desc.mins, desc.rows, desc.cols / desc.group_size, mins);
    w->tile_scales_.assign(std::move(scales), std::move(mins), w->k_, w->group_);
    return w;
  }
  w->data_.assign(src, src + count);
  const size_t groups = static_cast<size_t>(desc.rows * (desc.cols / desc.group_size));
  w->scales_.assign(desc.scales, desc.scales + groups);
  w->mins_.assign(desc.mins, desc.mins + groups);
  return w;
}

uint64_t AsymInt8Weight::bytes() const {
  return data_.size() + (scales_.size() + mins_.size()) * sizeof(float) + tile_scales_.bytes();
}

TiledWeight AsymInt8Weight::tiles() const {
  return TiledWeight{data_.data(), &tile_scales_, n_, k_, group_, TileFormat::kInt5Asym};
}

void AsymInt8Weight::dequant_row(int64_t row, float* out) const {
  if (five_bit_) {
    const TiledWeight w = tiles();
    unpack_tile_row(w.tile(row / kTileRows), w.format, row % kTileRows, out);
    return;
  }
  const uint8_t* q = data_.data() + row * k_;
  const float* scales = scales_.data() + row * (k_ / group_);
  const float* mins = mins_.data() + row * (k_ / group_);
  for (int64_t j = 0; j < k_; ++j) {
    out[j] = static_cast<float>(q[j]) * scales[j / group_] + mins[j / group_];
  }
}

void AsymInt8Weight::run(const float* x, int64_t m, float* out) const {
  if (m == 0) return;
  if (five_bit_) {
    run_tiles(tiles(), x, m, out, run_);
    return;
  }
  const int64_t n = n_;
  const int64_t k = k_;
  const int64_t groups = k / group_;
  if (m < kAsym8GemmMinRows) {
    bool integer = k % kBlock == 0 && group_ % kBlock == 0 && run_.q8;
    const int64_t blocks = k / kBlock;
    thread_local std::vector<int8_t> xq;
    thread_local std::vector<float> xs;
    thread_local std::vector<float> group_sums;
    if (integer) {
      xq.resize(static_cast<size_t>(m * k));
      xs.resize(static_cast<size_t>(m * blocks));
      group_sums.resize(static_cast<size_t>(m * groups));
      for (int64_t i = 0; i < m && integer; ++i) {
        integer = quantize_q8_row(x + i * k, k, group_, xq.data() + i * k, xs.data() + i * blocks,
                                  group_sums.data() + i * groups);
      }
    }
    const Asym8Kernels& kern = active_asym8_kernels();
    const Asym8Dot dot = kern.dot_uint8;
    // The calling thread's buffers, shared read-only with the team.
    const int8_t* xq_all = xq.data();
    const float* xs_all = xs.data();
    const float* sums_all = group_sums.data();
    parallel_for(n, [&](int64_t row) {
      const float* scales = scales_.data() + row * groups;
      const float* mins = mins_.data() + row * groups;
      if (integer) {
        const uint8_t* q = data_.data() + row * k;
        float dots[kAsym8MaxRows];
        for (int64_t i0 = 0; i0 < m; i0 += kAsym8MaxRows) {
          const int64_t rows = std::min(kAsym8MaxRows, m - i0);
          dot(xq_all + i0 * k, xs_all + i0 * blocks, rows, q, scales, group_, k, dots);
          for (int64_t i = i0; i < i0 + rows; ++i) {
            const float* sums = sums_all + i * groups;
            float min_part = 0.0f;
            for (int64_t g = 0; g < groups; ++g) min_part += mins[g] * sums[g];
            out[i * n + row] = dots[i - i0] + min_part;
          }
        }
        return;
      }
      float* w = scratch_f32(0, static_cast<size_t>(k));
      dequant_row(row, w);
      for (int64_t i = 0; i < m; ++i) out[i * n + row] = kernels().dot(x + i * k, w, k);
    });
    return;
  }
  const WidenRows widen = [](const void* weight, int64_t row0, int64_t rows, float* tile) {
    const auto* self = static_cast<const AsymInt8Weight*>(weight);
    for (int64_t r = 0; r < rows; ++r) self->dequant_row(row0 + r, tile + r * self->k_);
  };
  tiled_sgemm(x, m, n, k, out, widen, this);
}

}  // namespace tsr::cpu
