// Packing into row-interleaved tiles, the generic tile kernels and the ISA dispatch (see
// quant_tiles.h). The generic kernels are plain C++ in the order the vector kernels sum in,
// and the reference those are tested against.
#include "quant_tiles.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>

#include "cpu_internal.h"
#include "kernels.h"
#include "parallel.h"
#include "tessera/plugin.hpp"

namespace tsr::cpu {
namespace {

int64_t tiles_for(int64_t n) {
  return (n + kTileRows - 1) / kTileRows;
}

int canonical_nibble(const uint8_t* row, int64_t j) {
  const uint8_t byte = row[j / 2];
  return (j % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
}

// Mask planes after the int4 bytes of a block: bit 4 of the codes (5- and 6-bit), bit 5 (6-bit).
constexpr int mask_planes(TileFormat f) {
  return f == TileFormat::kInt5Asym ? 1 : f == TileFormat::kInt6 ? 2 : 0;
}

// Bits 4 and up of row r's code 4c + j in a 5- or 6-bit tile block, in place.
int32_t high_bits(const uint8_t* block, int planes, int64_t c, int64_t r, int64_t j) {
  int32_t bits = 0;
  for (int p = 0; p < planes; ++p) {
    uint64_t mask;
    std::memcpy(&mask, block + kTileBlockBytesI4 + (p * 8 + c) * 8, 8);
    bits |= static_cast<int32_t>((mask >> (r * 4 + j)) & 1) << (4 + p);
  }
  return bits;
}

// Packs uint8 codes [n][k] below 16 << planes into tiles of int4 blocks plus mask planes.
void pack_code_tiles(const uint8_t* codes, int planes, const float* scales, int64_t n, int64_t k,
                     int64_t group, std::vector<uint8_t>& data, std::vector<float>& packed_scales) {
  const int64_t tiles = tiles_for(n);
  const int64_t blocks = k / kTileBlock;
  const int64_t block_bytes = kTileBlockBytesI4 + planes * 8 * 8;
  // Padding rows hold code 0 (the asymmetric formats' padding scale and min are 0; a
  // symmetric format's padding scale is 0 too).
  data.assign(static_cast<size_t>(tiles * blocks * block_bytes), 0);
  for (int64_t row = 0; row < n; ++row) {
    const int64_t t = row / kTileRows;
    const int64_t r = row % kTileRows;
    const uint8_t* src = codes + row * k;
    for (int64_t b = 0; b < blocks; ++b) {
      uint8_t* block = data.data() + (t * blocks + b) * block_bytes;
      const uint8_t* u = src + b * kTileBlock;
      for (int64_t c = 0; c < 8; ++c) {
        for (int64_t j = 0; j < 4; ++j) {
          uint8_t& byte = block[(c % 4) * 64 + r * 4 + j];
          const uint8_t code = u[c * 4 + j];
          byte |= static_cast<uint8_t>(c < 4 ? (code & 0x0f) : (code & 0x0f) << 4);
          for (int p = 0; p < planes; ++p) {
            uint8_t* mask_byte = block + kTileBlockBytesI4 + (p * 8 + c) * 8 + (r * 4 + j) / 8;
            *mask_byte |= static_cast<uint8_t>(((code >> (4 + p)) & 1) << ((r * 4 + j) % 8));
          }
        }
      }
    }
  }
  pack_tile_scales(scales, n, k / group, packed_scales);
}

// Group g's value for row r of a tile's scales or mins, in f32.
float value_at(const QuantTile& w, const ScaleArray& a, int64_t g, int64_t r) {
  const int64_t at = g * kTileRows + r;
  switch (w.layout) {
    case ScaleLayout::kF32:
      return static_cast<const float*>(a.values)[at];
    case ScaleLayout::kF16:
      return sdk::f16_to_f32(static_cast<const uint16_t*>(a.values)[at]);
    case ScaleLayout::kCoded:
      return a.supers[(g >> w.super_shift) * kTileRows + r] *
             static_cast<float>(static_cast<const int8_t*>(a.values)[at]);
  }
  return 0.0f;
}

// The tile kernels' sum for one (activation row, weight row): per block the exact integer
// dot product of the unsigned weights with the int8 activations minus offset * block sum,
// scaled by (weight scale * activation scale) and accumulated in block order; asymmetric
// int4 has no offset and adds min * the block's f32 activation sum after the block. Split
// tiles (groups of 16) do the same per half block, the first half before the second.
template <TileFormat kFormat>
void tile_generic(const QuantTile& w, const Q8Rows& x, int64_t m, float* out, int64_t ldo,
                  int64_t rows) {
  constexpr bool kInt4 = kFormat != TileFormat::kInt8;
  constexpr bool kAsym = is_asym(kFormat);
  constexpr int32_t kOffset = tile_offset(kFormat);
  constexpr int64_t kBlockBytes = tile_block_bytes(kFormat);
  const int64_t k_blocks = x.k / kTileBlock;
  for (int64_t i = 0; i < m; ++i) {
    const int8_t* xq = x.q + i * x.k;
    for (int64_t r = 0; r < rows; ++r) {
      float total = 0.0f;
      for (int64_t b = 0; b < w.blocks; ++b) {
        const uint8_t* block = w.data + b * kBlockBytes;
        const int8_t* xb = xq + b * kTileBlock;
        int32_t half_dot[2] = {0, 0};
        for (int64_t c = 0; c < 8; ++c) {
          for (int64_t j = 0; j < 4; ++j) {
            int32_t u;
            if constexpr (kInt4) {
              const uint8_t byte = block[(c % 4) * 64 + r * 4 + j];
              u = c < 4 ? (byte & 0x0f) : (byte >> 4);
              if constexpr (mask_planes(kFormat) > 0) {
                u |= high_bits(block, mask_planes(kFormat), c, r, j);
              }
            } else {
              u = block[c * 64 + r * 4 + j];
            }
            half_dot[c / 4] += u * xb[c * 4 + j];
          }
        }
        const float xs = x.scale[i * k_blocks + b];
        if (w.split) {
          for (int64_t h = 0; h < 2; ++h) {
            const int64_t half = i * 2 * k_blocks + 2 * b + h;
            const int64_t g = 2 * b + h;
            const int32_t dot = half_dot[h] - kOffset * x.half_sum[half];
            total += static_cast<float>(dot) * (value_at(w, w.scales, g, r) * xs);
            if constexpr (kAsym) total += value_at(w, w.mins, g, r) * x.half_block_sum[half];
          }
          continue;
        }
        const int32_t dot = half_dot[0] + half_dot[1] - kOffset * x.sum[i * k_blocks + b];
        const int64_t g = b / w.blocks_per_group;
        total += static_cast<float>(dot) * (value_at(w, w.scales, g, r) * xs);
        if constexpr (kAsym) total += value_at(w, w.mins, g, r) * x.block_sum[i * k_blocks + b];
      }
      out[i * ldo + r] = total;
    }
  }
}

const TileKernels kGeneric = {"generic",
                              tile_generic<TileFormat::kInt8>,
                              tile_generic<TileFormat::kInt4>,
                              quantize_q8,
                              tile_generic<TileFormat::kInt4Asym>,
                              tile_generic<TileFormat::kInt5Asym>,
                              tile_generic<TileFormat::kInt6>};
std::atomic<const TileKernels*> g_active{&kGeneric};

}  // namespace

void pack_tile_scales(const float* scales, int64_t n, int64_t groups, std::vector<float>& out) {
  const int64_t tiles = tiles_for(n);
  out.assign(static_cast<size_t>(tiles * groups * kTileRows), 0.0f);
  for (int64_t row = 0; row < n; ++row) {
    const int64_t t = row / kTileRows;
    const int64_t r = row % kTileRows;
    for (int64_t g = 0; g < groups; ++g) {
      out[static_cast<size_t>((t * groups + g) * kTileRows + r)] = scales[row * groups + g];
    }
  }
}

void pack_tiles_i8(const int8_t* q, const float* scales, int64_t n, int64_t k, int64_t group,
                   std::vector<uint8_t>& data, std::vector<float>& packed_scales) {
  const int64_t tiles = tiles_for(n);
  const int64_t blocks = k / kTileBlock;
  // Padding rows hold w = 0, i.e. u = 128.
  data.assign(static_cast<size_t>(tiles * blocks * kTileBlockBytesI8), 128);
  for (int64_t row = 0; row < n; ++row) {
    const int64_t t = row / kTileRows;
    const int64_t r = row % kTileRows;
    for (int64_t b = 0; b < blocks; ++b) {
      uint8_t* block = data.data() + (t * blocks + b) * kTileBlockBytesI8;
      for (int64_t c = 0; c < 8; ++c) {
        for (int64_t j = 0; j < 4; ++j) {
          const int8_t value = q[row * k + b * kTileBlock + c * 4 + j];
          block[c * 64 + r * 4 + j] = static_cast<uint8_t>(value + 128);
        }
      }
    }
  }
  pack_tile_scales(scales, n, k / group, packed_scales);
}

void pack_tiles_i4(const uint8_t* q, const float* scales, int64_t n, int64_t k, int64_t group,
                   std::vector<uint8_t>& data, std::vector<float>& packed_scales) {
  const int64_t tiles = tiles_for(n);
  const int64_t blocks = k / kTileBlock;
  data.assign(static_cast<size_t>(tiles * blocks * kTileBlockBytesI4), 0x88);
  for (int64_t row = 0; row < n; ++row) {
    const int64_t t = row / kTileRows;
    const int64_t r = row % kTileRows;
    const uint8_t* src = q + row * (k / 2);
    for (int64_t b = 0; b < blocks; ++b) {
      uint8_t* block = data.data() + (t * blocks + b) * kTileBlockBytesI4;
      for (int64_t v = 0; v < 4; ++v) {
        for (int64_t j = 0; j < 4; ++j) {
          const int lo = canonical_nibble(src, b * kTileBlock + v * 4 + j);
          const int hi = canonical_nibble(src, b * kTileBlock + (v + 4) * 4 + j);
          block[v * 64 + r * 4 + j] = static_cast<uint8_t>(lo | (hi << 4));
        }
      }
    }
  }
  pack_tile_scales(scales, n, k / group, packed_scales);
}

void pack_tiles_i5(const uint8_t* codes, const float* scales, int64_t n, int64_t k, int64_t group,
                   std::vector<uint8_t>& data, std::vector<float>& packed_scales) {
  pack_code_tiles(codes, 1, scales, n, k, group, data, packed_scales);
}

void pack_tiles_i6(const int8_t* q, const float* scales, int64_t n, int64_t k, int64_t group,
                   std::vector<uint8_t>& data, std::vector<float>& packed_scales) {
  std::vector<uint8_t> codes(static_cast<size_t>(n * k));
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<uint8_t>(q[i] + 32);
  pack_code_tiles(codes.data(), 2, scales, n, k, group, data, packed_scales);
}

void unpack_tile_row(const QuantTile& w, TileFormat format, int64_t r, float* out) {
  const bool int4 = format != TileFormat::kInt8;
  const int offset = tile_offset(format);
  const int64_t block_bytes = tile_block_bytes(format);
  for (int64_t b = 0; b < w.blocks; ++b) {
    for (int64_t c = 0; c < 8; ++c) {
      const int64_t group = w.split ? 2 * b + c / 4 : b / w.blocks_per_group;
      const float s = value_at(w, w.scales, group, r);
      const float min = is_asym(format) ? value_at(w, w.mins, group, r) : 0.0f;
      for (int64_t j = 0; j < 4; ++j) {
        int u;
        if (int4) {
          const uint8_t* block = w.data + b * block_bytes;
          const uint8_t byte = block[(c % 4) * 64 + r * 4 + j];
          u = c < 4 ? (byte & 0x0f) : (byte >> 4);
          u |= high_bits(block, mask_planes(format), c, r, j);
        } else {
          u = w.data[b * kTileBlockBytesI8 + c * 64 + r * 4 + j];
        }
        out[b * kTileBlock + c * 4 + j] = static_cast<float>(u - offset) * s + min;
      }
    }
  }
}

QuantTile TiledWeight::tile(int64_t t) const {
  const int64_t blocks = k / kTileBlock;
  const bool split = group < kTileBlock;
  return QuantTile{data + t * blocks * tile_block_bytes(format),
                   blocks,
                   split ? 1 : group / kTileBlock,
                   split,
                   scales->layout(),
                   scales->super_shift(),
                   scales->scales(t),
                   scales->mins(t)};
}

namespace {
// Tiled path: tiles per thread work item, and activation rows per kernel call (the most
// the AVX-512 kernel keeps in registers).
constexpr int64_t kGroupTiles = 8;
constexpr int64_t kChunkRows = 8;

// The activations of one call quantized to int8 per 32-block, with the sums the weight's
// kernels read (Q8Rows), in the calling thread's buffers; false when a value is NaN or Inf.
bool quantize_rows(const float* x, int64_t m, int64_t k, bool asym, bool split, Q8Rows& rows) {
  const int64_t blocks = k / kTileBlock;
  thread_local std::vector<int8_t> xq;
  thread_local std::vector<float> xs;
  thread_local std::vector<int32_t> xsum;
  thread_local std::vector<float> block_sums;
  thread_local std::vector<int32_t> half_sums;
  thread_local std::vector<float> half_block_sums;
  xq.resize(static_cast<size_t>(m * k));
  xs.resize(static_cast<size_t>(m * blocks));
  xsum.resize(static_cast<size_t>(m * blocks));
  if (asym) (split ? half_block_sums : block_sums).resize(static_cast<size_t>(m * blocks * 2));
  if (split) half_sums.resize(static_cast<size_t>(m * blocks * 2));
  // Pointers, not the thread_local vectors: inside the parallel region those name each
  // worker's own (empty) buffers.
  int8_t* q_all = xq.data();
  float* s_all = xs.data();
  int32_t* sum_all = xsum.data();
  float* f32_sums = split ? half_block_sums.data() : block_sums.data();
  int32_t* half_all = half_sums.data();
  // The f32 sums the mins multiply, per block (or per half block when split).
  const int64_t span = split ? kTileBlock / 2 : kTileBlock;
  const int64_t spans = k / span;
  std::atomic<bool> finite{true};
  const QuantizeRow quantize = tile_kernels().quantize;
  parallel_for(
      m,
      [&](int64_t i) {
        const float* row = x + i * k;
        if (!quantize(row, k, q_all + i * k, s_all + i * blocks, sum_all + i * blocks)) {
          finite.store(false, std::memory_order_relaxed);
          return;
        }
        if (split) {
          const int8_t* q = q_all + i * k;
          for (int64_t h = 0; h < 2 * blocks; ++h) {
            int32_t sum = 0;
            for (int64_t j = 0; j < kTileBlock / 2; ++j) sum += q[h * (kTileBlock / 2) + j];
            half_all[i * 2 * blocks + h] = sum;
          }
        }
        if (!asym) return;
        for (int64_t b = 0; b < spans; ++b) {
          float sum = 0.0f;
          for (int64_t j = 0; j < span; ++j) sum += row[b * span + j];
          f32_sums[i * spans + b] = sum;
        }
      },
      m * k > kParallelGrain);
  rows = Q8Rows{q_all, s_all, sum_all, k, nullptr};
  if (asym && !split) rows.block_sum = f32_sums;
  if (split) {
    rows.half_sum = half_all;
    if (asym) rows.half_block_sum = f32_sums;
  }
  return finite.load();
}

// Rows i0.. of quantized activations.
Q8Rows rows_from(const Q8Rows& all, int64_t i0) {
  const int64_t blocks = all.k / kTileBlock;
  const auto at = [&](auto* p, int64_t per_row) { return p != nullptr ? p + i0 * per_row : p; };
  Q8Rows rows{at(all.q, all.k), at(all.scale, blocks), at(all.sum, blocks), all.k,
              at(all.block_sum, blocks)};
  rows.half_sum = at(all.half_sum, 2 * blocks);
  rows.half_block_sum = at(all.half_block_sum, 2 * blocks);
  return rows;
}

// Rows i0..i0 + rows - 1 of `all` copied into `pad`'s buffers with zero rows up to 16, for
// the AMX kernels, which always take 16 rows (the extra rows' results are not stored).
struct PaddedRows {
  std::vector<int8_t> q;
  std::vector<float> scale, block_sum, half_block_sum;
  std::vector<int32_t> sum, half_sum;
};
Q8Rows pad_rows(const Q8Rows& all, int64_t i0, int64_t rows, PaddedRows& pad) {
  const int64_t blocks = all.k / kTileBlock;
  const auto copy = [&](auto* from, auto& to, int64_t per_row) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(from)>>;
    if (from == nullptr) return static_cast<const T*>(nullptr);
    to.assign(static_cast<size_t>(16 * per_row), T{});
    std::copy(from + i0 * per_row, from + (i0 + rows) * per_row, to.begin());
    return static_cast<const T*>(to.data());
  };
  Q8Rows out{copy(all.q, pad.q, all.k), copy(all.scale, pad.scale, blocks),
             copy(all.sum, pad.sum, blocks), all.k, copy(all.block_sum, pad.block_sum, blocks)};
  out.half_sum = copy(all.half_sum, pad.half_sum, 2 * blocks);
  out.half_block_sum = copy(all.half_block_sum, pad.half_block_sum, 2 * blocks);
  return out;
}

// The AMX path (quant_tiles.h): a thread takes kGroupTiles tiles, writes their codes out as
// signed int8 once (L2-resident: 128 rows x K bytes), then runs every 16-row chunk of the
// activations through them, so a chunk (16 x K bytes, L1/L2) is re-read once per 128 rows.
void run_tiles_amx(const TiledWeight& w, const AmxTileKernels& amx, const Q8Rows& all, int64_t m,
                   float* out) {
  const int64_t n = w.n;
  const int64_t tiles = (n + kTileRows - 1) / kTileRows;
  const int64_t tile_codes = (w.k / kTileBlock) * kTileBlockBytesI8;
  const int64_t full_chunks = m / 16;
  thread_local PaddedRows pad;  // reused: a steady serving step allocates nothing
  const Q8Rows tail = m % 16 != 0 ? pad_rows(all, full_chunks * 16, m % 16, pad) : all;
  const int64_t tile_groups = (tiles + kGroupTiles - 1) / kGroupTiles;
  parallel_for(tile_groups, [&](int64_t group) {
    const int64_t t0 = group * kGroupTiles;
    const int64_t t_end = std::min(tiles, t0 + kGroupTiles);
    thread_local std::vector<int8_t> codes;
    codes.resize(static_cast<size_t>(kGroupTiles * tile_codes));
    for (int64_t t = t0; t < t_end; ++t)
      amx.materialize(w.tile(t), codes.data() + (t - t0) * tile_codes);
    amx.begin(w.group < kTileBlock);
    for (int64_t i0 = 0; i0 < m; i0 += 16) {
      const bool full = i0 / 16 < full_chunks;
      const Q8Rows chunk = full ? rows_from(all, i0) : tail;
      for (int64_t t = t0; t < t_end; ++t) {
        const int64_t row0 = t * kTileRows;
        amx.rows16(w.tile(t), codes.data() + (t - t0) * tile_codes, chunk, out + i0 * n + row0, n,
                   std::min(kTileRows, n - row0), full ? 16 : m % 16);
      }
    }
    amx.end();
  });
}
}  // namespace

TileRun tile_run_options() {
  return TileRun{q8_activations_enabled(), amx_option_enabled()};
}

void run_tiles(const TiledWeight& w, const float* x, int64_t m, float* out, const TileRun& run) {
  const bool q8 = run.q8;
  if (m == 0) return;
  const int64_t n = w.n;
  const int64_t k = w.k;
  const int64_t tiles = (n + kTileRows - 1) / kTileRows;
  Q8Rows all{nullptr, nullptr, nullptr, k, nullptr};
  const bool integer = q8 && quantize_rows(x, m, k, is_asym(w.format), w.group < kTileBlock, all);
  if (integer && run.amx && m >= kAmxMinRows) {
    if (const AmxTileKernels* amx = amx_tile_kernels(w.format); amx != nullptr) {
      run_tiles_amx(w, *amx, all, m, out);
      return;
    }
  }
  const TileKernels& set = tile_kernels();
  const TileKernel kernel = w.format == TileFormat::kInt8       ? set.i8
                            : w.format == TileFormat::kInt4     ? set.i4
                            : w.format == TileFormat::kInt4Asym ? set.i4_asym
                            : w.format == TileFormat::kInt5Asym ? set.i5_asym
                                                                : set.i6;
  // Cache blocking for prefill: a thread takes kGroupTiles tiles (128 rows: 128 KB of
  // int8 weights at K = 1024, L2-resident) and runs every chunk of kChunkRows activation
  // rows (L1-resident) through all of them, so the activations are re-read once per 128
  // weight rows instead of once per 16. Decode batches (one chunk) split by single tiles,
  // for balance on small weights.
  const int64_t group_tiles = m > kChunkRows ? kGroupTiles : 1;
  const int64_t tile_groups = (tiles + group_tiles - 1) / group_tiles;
  parallel_for(tile_groups, [&](int64_t group) {
    const int64_t t_end = std::min(tiles, (group + 1) * group_tiles);
    for (int64_t i0 = 0; i0 < m; i0 += kChunkRows) {
      const int64_t rows_here = std::min(kChunkRows, m - i0);
      for (int64_t t = group * group_tiles; t < t_end; ++t) {
        const QuantTile tile = w.tile(t);
        const int64_t row0 = t * kTileRows;
        const int64_t valid = std::min(kTileRows, n - row0);
        float* dst = out + i0 * n + row0;
        if (integer) {
          kernel(tile, rows_from(all, i0), rows_here, dst, n, valid);
          continue;
        }
        // Float path: exact up to f32 rounding, and carries NaN/Inf through.
        const Kernels& kern = kernels();
        float* row = scratch_f32(0, static_cast<size_t>(k));
        for (int64_t r = 0; r < valid; ++r) {
          unpack_tile_row(tile, w.format, r, row);
          for (int64_t i = 0; i < rows_here; ++i) {
            dst[i * n + r] = kern.dot(x + (i0 + i) * k, row, k);
          }
        }
      }
    }
  });
}

const TileKernels& tile_kernels_generic() {
  return kGeneric;
}

const TileKernels& tile_kernels() {
  return *g_active.load(std::memory_order_acquire);
}

void set_tile_kernels(Isa isa) {
  const TileKernels* set = nullptr;
  if (isa == Isa::kAvx512) set = tile_kernels_avx512_vnni();
  // AVX-512 without VNNI (Skylake-X) runs the AVX2 tiles.
  if (set == nullptr && isa != Isa::kGeneric) set = tile_kernels_avx2();
  g_active.store(set != nullptr ? set : &kGeneric, std::memory_order_release);
}

}  // namespace tsr::cpu
