// Quantized linear kernels (see linear_quant.h).
#include "linear_quant.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <string>
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
// Tiled path: tiles per thread work item, and activation rows per kernel call (the most
// the AVX-512 kernel keeps in registers).
constexpr int64_t kGroupTiles = 8;
constexpr int64_t kChunkRows = 8;

const std::array<float, 256>& fp8_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i)
      t[static_cast<size_t>(i)] = tsr::sdk::fp8_e4m3_to_f32(static_cast<uint8_t>(i));
    return t;
  }();
  return table;
}

// cpu.q8_activations=0 keeps activations in f32 on every path (exact dequantized-weight
// results, several times slower). Read once: host options are fixed after initialize, and a
// linear call should not pay for a string lookup.
bool q8_activations() {
  static const bool value = [] {
    const char* text = host().option("cpu.q8_activations");
    return text == nullptr || std::string(text) != "0";
  }();
  return value;
}

}  // namespace

std::unique_ptr<QuantWeight> QuantWeight::create(const tsr_weight_desc& desc) {
  auto w = std::make_unique<QuantWeight>();
  w->format_ = desc.format;
  w->n_ = desc.rows;
  w->k_ = desc.cols;
  const bool grouped =
      desc.format == TSR_WEIGHT_FORMAT_INT8_GROUP || desc.format == TSR_WEIGHT_FORMAT_INT4_GROUP;
  w->group_ = grouped ? desc.group_size : desc.cols;
  const bool integer = desc.format == TSR_WEIGHT_FORMAT_INT4_GROUP ||
                       desc.format == TSR_WEIGHT_FORMAT_INT8_GROUP ||
                       desc.format == TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL;
  if (integer && w->group_ % kTileBlock == 0 && w->k_ % kTileBlock == 0) {
    w->tiled_ = true;
    const auto* scales = static_cast<const float*>(desc.scales);
    if (desc.format == TSR_WEIGHT_FORMAT_INT4_GROUP) {
      pack_tiles_i4(static_cast<const uint8_t*>(desc.data), scales, w->n_, w->k_, w->group_,
                    w->data_, w->scales_);
    } else {
      pack_tiles_i8(static_cast<const int8_t*>(desc.data), scales, w->n_, w->k_, w->group_,
                    w->data_, w->scales_);
    }
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
  return data_.size() + scales_.size() * sizeof(float);
}

void QuantWeight::dequant_row(int64_t row, float* out) const {
  if (tiled_) {
    const int64_t blocks = k_ / kTileBlock;
    const int64_t block_bytes =
        format_ == TSR_WEIGHT_FORMAT_INT4_GROUP ? kTileBlockBytesI4 : kTileBlockBytesI8;
    const int64_t t = row / kTileRows;
    const QuantTile tile{data_.data() + t * blocks * block_bytes,
                         scales_.data() + t * (k_ / group_) * kTileRows, blocks,
                         group_ / kTileBlock};
    unpack_tile_row(tile, format_ == TSR_WEIGHT_FORMAT_INT4_GROUP, row % kTileRows, out);
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
    run_tiled(x, m, out);
  } else {
    run_canonical(x, m, out);
  }
}

void QuantWeight::run_tiled(const float* x, int64_t m, float* out) const {
  const int64_t n = n_;
  const int64_t k = k_;
  const int64_t blocks = k / kTileBlock;
  const bool int4 = format_ == TSR_WEIGHT_FORMAT_INT4_GROUP;
  const int64_t block_bytes = int4 ? kTileBlockBytesI4 : kTileBlockBytesI8;
  const int64_t groups = k / group_;
  const int64_t tiles = (n + kTileRows - 1) / kTileRows;
  // The calling thread's buffers, shared read-only with the team.
  thread_local std::vector<int8_t> xq;
  thread_local std::vector<float> xs;
  thread_local std::vector<int32_t> xsum;
  bool integer = q8_activations();
  if (integer) {
    xq.resize(static_cast<size_t>(m * k));
    xs.resize(static_cast<size_t>(m * blocks));
    xsum.resize(static_cast<size_t>(m * blocks));
    // Pointers, not the thread_local vectors: inside the parallel region those name each
    // worker's own (empty) buffers.
    int8_t* q_all = xq.data();
    float* s_all = xs.data();
    int32_t* sum_all = xsum.data();
    std::atomic<bool> finite{true};
    const QuantizeRow quantize = tile_kernels().quantize;
    parallel_for(
        m,
        [&](int64_t i) {
          if (!quantize(x + i * k, k, q_all + i * k, s_all + i * blocks, sum_all + i * blocks)) {
            finite.store(false, std::memory_order_relaxed);
          }
        },
        m * k > kParallelGrain);
    integer = finite.load();
  }
  const TileKernel kernel = int4 ? tile_kernels().i4 : tile_kernels().i8;
  const int8_t* q_all = xq.data();
  const float* s_all = xs.data();
  const int32_t* sum_all = xsum.data();
  // Cache blocking for prefill: a thread takes kGroupTiles tiles (128 rows: 128 KB of
  // int8 weights at K = 1024, L2-resident) and runs every chunk of kChunkRows activation
  // rows (L1-resident) through all of them, so the activations are re-read once per 128
  // weight rows instead of once per 16. Decode batches are a single chunk.
  // Decode batches (one chunk) split by single tiles, for balance on small weights.
  const int64_t group_tiles = m > kChunkRows ? kGroupTiles : 1;
  const int64_t tile_groups = (tiles + group_tiles - 1) / group_tiles;
  parallel_for(tile_groups, [&](int64_t group) {
    const int64_t t_end = std::min(tiles, (group + 1) * group_tiles);
    for (int64_t i0 = 0; i0 < m; i0 += kChunkRows) {
      const int64_t rows_here = std::min(kChunkRows, m - i0);
      // The quantized activations exist on the integer path only (null pointers, not to be
      // offset, on the float path).
      const Q8Rows chunk =
          integer ? Q8Rows{q_all + i0 * k, s_all + i0 * blocks, sum_all + i0 * blocks, k}
                  : Q8Rows{nullptr, nullptr, nullptr, k};
      for (int64_t t = group * group_tiles; t < t_end; ++t) {
        const QuantTile tile{data_.data() + t * blocks * block_bytes,
                             scales_.data() + t * groups * kTileRows, blocks, group_ / kTileBlock};
        const int64_t row0 = t * kTileRows;
        const int64_t valid = std::min(kTileRows, n - row0);
        float* dst = out + i0 * n + row0;
        if (integer) {
          kernel(tile, chunk, rows_here, dst, n, valid);
          continue;
        }
        // Float path: exact up to f32 rounding, and carries NaN/Inf through.
        const Kernels& kern = kernels();
        float* w = scratch_f32(0, static_cast<size_t>(k));
        for (int64_t r = 0; r < valid; ++r) {
          unpack_tile_row(tile, int4, r, w);
          for (int64_t i = 0; i < rows_here; ++i) {
            dst[i * n + r] = kern.dot(x + (i0 + i) * k, w, k);
          }
        }
      }
    }
  });
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
