// Packing into row-interleaved tiles, the generic tile kernels and the ISA dispatch (see
// quant_tiles.h). The generic kernels are plain C++ in the order the vector kernels sum in,
// and the reference those are tested against.
#include "quant_tiles.h"

#include "kernels.h"

#include <atomic>
#include <cstring>

namespace tsr::cpu {
namespace {

int64_t tiles_for(int64_t n) {
  return (n + kTileRows - 1) / kTileRows;
}

void pack_scales(const float* scales, int64_t n, int64_t groups, std::vector<float>& out) {
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

int canonical_nibble(const uint8_t* row, int64_t j) {
  const uint8_t byte = row[j / 2];
  return (j % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
}

// The tile kernels' sum for one (activation row, weight row): per block the exact integer
// dot product of the unsigned weights with the int8 activations minus offset * block sum,
// scaled by (weight scale * activation scale) and accumulated in block order.
template <bool kInt4>
void tile_generic(const QuantTile& w, const Q8Rows& x, int64_t m, float* out, int64_t ldo,
                  int64_t rows) {
  constexpr int32_t kOffset = kInt4 ? 8 : 128;
  constexpr int64_t kBlockBytes = kInt4 ? kTileBlockBytesI4 : kTileBlockBytesI8;
  const int64_t k_blocks = x.k / kTileBlock;
  for (int64_t i = 0; i < m; ++i) {
    const int8_t* xq = x.q + i * x.k;
    for (int64_t r = 0; r < rows; ++r) {
      float total = 0.0f;
      for (int64_t b = 0; b < w.blocks; ++b) {
        const uint8_t* block = w.data + b * kBlockBytes;
        const int8_t* xb = xq + b * kTileBlock;
        int32_t acc = -kOffset * x.sum[i * k_blocks + b];
        for (int64_t c = 0; c < 8; ++c) {
          for (int64_t j = 0; j < 4; ++j) {
            int32_t u;
            if constexpr (kInt4) {
              const uint8_t byte = block[(c % 4) * 64 + r * 4 + j];
              u = c < 4 ? (byte & 0x0f) : (byte >> 4);
            } else {
              u = block[c * 64 + r * 4 + j];
            }
            acc += u * xb[c * 4 + j];
          }
        }
        const float scale =
            w.scales[(b / w.blocks_per_group) * kTileRows + r] * x.scale[i * k_blocks + b];
        total += static_cast<float>(acc) * scale;
      }
      out[i * ldo + r] = total;
    }
  }
}

const TileKernels kGeneric = {"generic", tile_generic<false>, tile_generic<true>, quantize_q8};
std::atomic<const TileKernels*> g_active{&kGeneric};

}  // namespace

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
  pack_scales(scales, n, k / group, packed_scales);
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
  pack_scales(scales, n, k / group, packed_scales);
}

void unpack_tile_row(const QuantTile& w, bool int4, int64_t r, float* out) {
  for (int64_t b = 0; b < w.blocks; ++b) {
    const float s = w.scales[(b / w.blocks_per_group) * kTileRows + r];
    for (int64_t c = 0; c < 8; ++c) {
      for (int64_t j = 0; j < 4; ++j) {
        int u;
        if (int4) {
          const uint8_t byte = w.data[b * kTileBlockBytesI4 + (c % 4) * 64 + r * 4 + j];
          u = (c < 4 ? (byte & 0x0f) : (byte >> 4)) - 8;
        } else {
          u = w.data[b * kTileBlockBytesI8 + c * 64 + r * 4 + j] - 128;
        }
        out[b * kTileBlock + c * 4 + j] = static_cast<float>(u) * s;
      }
    }
  }
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
