// Quantized linear kernels (see linear_quant.h).
#include "linear_quant.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "cpu_internal.h"
#include "kernels.h"
#include "parallel.h"
#include "quant_tiles.h"
#include "tiled_sgemm.h"

namespace tsr::cpu {
namespace {

// M at and above which the dequantize-tile + sgemm path wins over per-row GEMV.
constexpr int64_t kGemmMinRows = 8;

const std::array<float, 256>& fp8_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i)
      t[static_cast<size_t>(i)] = tsr::sdk::fp8_e4m3_to_f32(static_cast<uint8_t>(i));
    return t;
  }();
  return table;
}

}  // namespace

std::unique_ptr<QuantWeight> QuantWeight::create(const tsr_weight_desc& desc) {
  auto w = std::make_unique<QuantWeight>();
  w->run_ = tile_run_options();
  w->format_ = desc.format;
  w->n_ = desc.rows;
  w->k_ = desc.cols;
  const bool grouped =
      desc.format == TSR_WEIGHT_FORMAT_INT8_GROUP || desc.format == TSR_WEIGHT_FORMAT_INT4_GROUP;
  w->group_ = grouped ? desc.group_size : desc.cols;
  const bool integer = desc.format == TSR_WEIGHT_FORMAT_INT4_GROUP ||
                       desc.format == TSR_WEIGHT_FORMAT_INT8_GROUP ||
                       desc.format == TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL;
  const bool int4 = desc.format == TSR_WEIGHT_FORMAT_INT4_GROUP;
  const auto* q = static_cast<const int8_t*>(desc.data);
  const size_t count = static_cast<size_t>(desc.rows) * static_cast<size_t>(desc.cols);
  // int8 weights within -32..31 (GGUF Q6_K, Q5_0) take 6-bit tiles: 25% fewer bytes.
  const bool six_bit =
      integer && !int4 && std::all_of(q, q + count, [](int8_t v) { return v >= -32 && v < 32; });
  w->tile_format_ = int4 ? TileFormat::kInt4 : six_bit ? TileFormat::kInt6 : TileFormat::kInt8;
  if (integer && tileable_group(w->tile_format_, w->group_) && w->k_ % kTileBlock == 0) {
    w->tiled_ = true;
    const auto* scales = static_cast<const float*>(desc.scales);
    std::vector<float> packed;
    if (int4) {
      pack_tiles_i4(static_cast<const uint8_t*>(desc.data), scales, w->n_, w->k_, w->group_,
                    w->data_, packed);
    } else if (six_bit) {
      pack_tiles_i6(q, scales, w->n_, w->k_, w->group_, w->data_, packed);
    } else {
      pack_tiles_i8(q, scales, w->n_, w->k_, w->group_, w->data_, packed);
    }
    w->tile_scales_.assign(std::move(packed), {}, w->k_, w->group_);
    return w;
  }
  const size_t row_bytes = desc.format == TSR_WEIGHT_FORMAT_INT4_GROUP
                               ? static_cast<size_t>(desc.cols / 2)
                               : static_cast<size_t>(desc.cols);
  w->data_.resize(row_bytes * static_cast<size_t>(desc.rows));
  std::memcpy(w->data_.data(), desc.data, w->data_.size());
  const size_t groups_per_row = static_cast<size_t>(desc.cols / w->group_);
  w->scales_.resize(groups_per_row * static_cast<size_t>(desc.rows));
  std::memcpy(w->scales_.data(), desc.scales, w->scales_.size() * sizeof(float));
  if (desc.format == TSR_WEIGHT_FORMAT_FP8_E4M3) fp8_table();
  return w;
}

uint64_t QuantWeight::bytes() const {
  return data_.size() + scales_.size() * sizeof(float) + tile_scales_.bytes();
}

void QuantWeight::dequant_row(int64_t row, float* out) const {
  if (tiled_) {
    const TiledWeight w = tiles();
    unpack_tile_row(w.tile(row / kTileRows), w.format, row % kTileRows, out);
    return;
  }
  const Kernels& kern = kernels();
  const float* scales = scales_.data() + row * (k_ / group_);
  switch (format_) {
    case TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL:
    case TSR_WEIGHT_FORMAT_INT8_GROUP:
      kern.dequant_i8(reinterpret_cast<const int8_t*>(data_.data()) + row * k_, scales, group_, k_,
                      out);
      return;
    case TSR_WEIGHT_FORMAT_INT4_GROUP:
      kern.dequant_i4(data_.data() + row * (k_ / 2), scales, group_, k_, out);
      return;
    case TSR_WEIGHT_FORMAT_FP8_E4M3: {
      const std::array<float, 256>& table = fp8_table();
      const uint8_t* q = data_.data() + row * k_;
      const float s = scales[0];
      for (int64_t j = 0; j < k_; ++j) out[j] = table[q[j]] * s;
      return;
    }
    default:
      return;
  }
}

void QuantWeight::run(const float* x, int64_t m, float* out) const {
  if (m == 0) return;
  if (tiled_) {
    run_tiles(tiles(), x, m, out, run_);
  } else {
    run_canonical(x, m, out);
  }
}

TiledWeight QuantWeight::tiles() const {
  return TiledWeight{data_.data(), &tile_scales_, n_, k_, group_, tile_format_};
}

void QuantWeight::run_canonical(const float* x, int64_t m, float* out) const {
  const int64_t n = n_;
  const int64_t k = k_;
  if (m < kGemmMinRows) {
    const bool int4 = format_ == TSR_WEIGHT_FORMAT_INT4_GROUP;
    const bool fused = int4 || format_ == TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL ||
                       format_ == TSR_WEIGHT_FORMAT_INT8_GROUP;
    const int64_t groups = k / group_;
    const size_t row_bytes = static_cast<size_t>(int4 ? k / 2 : k);
    parallel_for(n, [&](int64_t row) {
      const Kernels& kern = kernels();
      const uint8_t* q = data_.data() + static_cast<size_t>(row) * row_bytes;
      const float* s = scales_.data() + row * groups;
      if (fused) {
        // Groups that are not whole 32-blocks: float dot products (integer weights with
        // whole blocks are tiled, see run_tiled).
        for (int64_t i = 0; i < m; ++i) {
          out[i * n + row] =
              int4 ? kern.dot_i4(x + i * k, q, s, group_, k)
                   : kern.dot_i8(x + i * k, reinterpret_cast<const int8_t*>(q), s, group_, k);
        }
        return;
      }
      float* w = scratch_f32(0, static_cast<size_t>(k));
      dequant_row(row, w);
      for (int64_t i = 0; i < m; ++i) out[i * n + row] = kern.dot(x + i * k, w, k);
    });
    return;
  }
  const WidenRows widen = [](const void* weight, int64_t row0, int64_t rows, float* tile) {
    const auto* self = static_cast<const QuantWeight*>(weight);
    for (int64_t r = 0; r < rows; ++r) self->dequant_row(row0 + r, tile + r * self->k_);
  };
  tiled_sgemm(x, m, n, k, out, widen, this);
}

}  // namespace tsr::cpu
