// INT4_GROUP_ASYM linear (see linear_asym.h): prepacking into tiles (whole 32-blocks) or the
// canonical layout, the float GEMV and the dequantize-tile + sgemm path for the latter.
#include "linear_asym.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "cpu_internal.h"
#include "isa.h"
#include "kernels.h"
#include "parallel.h"
#include "quant_tiles.h"
#include "tiled_sgemm.h"

namespace tsr::cpu {
namespace {

constexpr int64_t kBlock = 32;  // activation quantization block
// Weights that are not tiled (groups of 16: Q2_K): M at and above which the dequantize-tile
// + sgemm path is taken. Below it each weight row is dequantized once into L1 and dotted with
// every activation row, while the sgemm path dequantizes the whole weight to f32 on every
// call; only prefill-sized batches repay that. tests/cpu_plugin/linear_asym_test.cpp mirrors
// this value.
constexpr int64_t kAsymGemmMinRows = 32;

}  // namespace

bool quantize_q8_row(const float* x, int64_t k, int64_t group, int8_t* xq, float* xs,
                     float* group_sums) {
  for (int64_t b = 0; b < k / kBlock; ++b) {
    const float* v = x + b * kBlock;
    float absmax = 0.0f;
    for (int64_t j = 0; j < kBlock; ++j) {
      if (!std::isfinite(v[j])) return false;
      absmax = std::max(absmax, std::fabs(v[j]));
    }
    const float inv = absmax > 0.0f ? 127.0f / absmax : 0.0f;
    for (int64_t j = 0; j < kBlock; ++j) {
      xq[b * kBlock + j] = static_cast<int8_t>(std::lrintf(v[j] * inv));
    }
    xs[b] = absmax / 127.0f;
  }
  for (int64_t g = 0; g < k / group; ++g) {
    float sum = 0.0f;
    for (int64_t j = g * group; j < (g + 1) * group; ++j) sum += x[j];
    group_sums[g] = sum;
  }
  return true;
}

std::unique_ptr<AsymInt4Weight> AsymInt4Weight::create(const tsr_weight_desc& desc) {
  auto w = std::make_unique<AsymInt4Weight>();
  w->run_ = tile_run_options();
  w->n_ = desc.rows;
  w->k_ = desc.cols;
  w->group_ = desc.group_size;
  const size_t groups = static_cast<size_t>(desc.rows * (desc.cols / desc.group_size));
  if (desc.cols % kTileBlock == 0 && tileable_group(TileFormat::kInt4Asym, desc.group_size)) {
    // Whole 32-blocks or groups of 16 (Q2_K): the row-interleaved int4 tiles, with the mins
    // packed like the scales.
    w->tiled_ = true;
    std::vector<float> scales;
    std::vector<float> mins;
    pack_tiles_i4(static_cast<const uint8_t*>(desc.data), desc.scales, desc.rows, desc.cols,
                  desc.group_size, w->data_, scales);
    pack_tile_scales(desc.mins, desc.rows, desc.cols / desc.group_size, mins);
    w->tile_scales_.assign(std::move(scales), std::move(mins), w->k_, w->group_);
    return w;
  }
  // Other shapes keep the canonical layout: byte i holds elements 2i (low) and 2i + 1 (high).
  const size_t row_bytes = static_cast<size_t>(desc.cols / 2);
  const auto* src = static_cast<const uint8_t*>(desc.data);
  w->data_.assign(src, src + row_bytes * static_cast<size_t>(desc.rows));
  w->scales_.assign(desc.scales, desc.scales + groups);
  w->mins_.assign(desc.mins, desc.mins + groups);
  return w;
}

uint64_t AsymInt4Weight::bytes() const {
  return data_.size() + (scales_.size() + mins_.size()) * sizeof(float) + tile_scales_.bytes();
}

TiledWeight AsymInt4Weight::tiles() const {
  return TiledWeight{data_.data(), &tile_scales_, n_, k_, group_, TileFormat::kInt4Asym};
}

void AsymInt4Weight::dequant_row(int64_t row, float* out) const {
  if (tiled_) {
    const TiledWeight w = tiles();
    unpack_tile_row(w.tile(row / kTileRows), w.format, row % kTileRows, out);
    return;
  }
  const uint8_t* q = data_.data() + row * (k_ / 2);
  const float* scales = scales_.data() + row * (k_ / group_);
  const float* mins = mins_.data() + row * (k_ / group_);
  for (int64_t j = 0; j < k_; ++j) {
    const int u = j % 2 == 0 ? q[j / 2] & 0x0f : q[j / 2] >> 4;
    out[j] = static_cast<float>(u) * scales[j / group_] + mins[j / group_];
  }
}

void AsymInt4Weight::run(const float* x, int64_t m, float* out) const {
  if (m == 0) return;
  if (tiled_) {
    run_tiles(tiles(), x, m, out, run_);
    return;
  }
  const int64_t n = n_;
  const int64_t k = k_;
  if (m < kAsymGemmMinRows) {
    // Each row dequantized into L1-resident f32 and dotted with every activation row.
    parallel_for(n, [&](int64_t row) {
      float* w = scratch_f32(0, static_cast<size_t>(k));
      dequant_row(row, w);
      for (int64_t i = 0; i < m; ++i) out[i * n + row] = kernels().dot(x + i * k, w, k);
    });
    return;
  }
  const WidenRows widen = [](const void* weight, int64_t row0, int64_t rows, float* tile) {
    const auto* self = static_cast<const AsymInt4Weight*>(weight);
    for (int64_t r = 0; r < rows; ++r) self->dequant_row(row0 + r, tile + r * self->k_);
  };
  tiled_sgemm(x, m, n, k, out, widen, this);
}

}  // namespace tsr::cpu
