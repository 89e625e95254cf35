// How the integer tiles (quant_tiles.h) keep their per-group scales and mins, and the store a
// tiled weight owns them in. Every layout is [tile][group][16 rows], rows past n padding 0;
// the kernels widen 16 (or 8) of them per group into an f32 vector:
//
//   kF32    f32 values.
//   kF16    f16 values, when every scale and min of the weight is one: the GGUF formats
//           Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and IQ4_NL store f16 scales, and f32 copies made a
//           decode step read 6% (Q8_0), 11% (Q4_0) and 20% (Q4_1: a scale and a min per 32
//           weights) more bytes than the file. One vcvtph2ps per group.
//   kCoded  int8 codes times one f32 per 256 columns ("super" values, [tile][super][16 rows]),
//           when every value is exactly such a product: the K-quants store d (f16) per 256
//           weights and 4- to 8-bit sub-scales per group, and their f32 products (d * sc,
//           exact in f32) cost 4 bytes per group: Q4_K's tiles read 33% more than the file,
//           Q2_K's three times as much. One vpmovsxbd + vcvtdq2ps + vmulps per group.
//
// Whatever the layout, a kernel's f32 scale equals the value the weight descriptor gave
// (f16 widening and the d * code product are exact), so results do not depend on the layout.
// Checked at prepack for every value; a weight that fits none stays f32 (the scales
// --quantization int8|int4 computes). The detection needs no format knowledge: per row and
// 256 columns it tries d = (the largest-magnitude value) / n for the sub-scale maxima the
// K-quant quantizers produce (63, 127, 128, 31, 32, 15), then every n from 128 down, and
// keeps the first d whose codes all reproduce their values.
#ifndef TESSERA_PLUGINS_CPU_TILE_SCALES_H
#define TESSERA_PLUGINS_CPU_TILE_SCALES_H

#include <cstdint>
#include <vector>

namespace tsr::cpu {

enum class ScaleLayout { kF32, kF16, kCoded };

// Columns per super value of the kCoded layout (the K-quants' super-block).
inline constexpr int64_t kSuperCols = 256;

// One tile's scales or mins: values (f32, f16 or int8 by the layout) at [group][16 rows],
// and for kCoded the super values at [super][16 rows].
struct ScaleArray {
  const void* values = nullptr;
  const float* supers = nullptr;
};

// The packed scales (and, for asymmetric formats, mins) a tiled weight owns, in the smallest
// layout that holds every value exactly.
class TileScales {
 public:
  // Takes the packed f32 scales and mins ([tile][group][16 rows]; mins empty for symmetric
  // formats) of a weight with k columns and groups of `group`.
  void assign(std::vector<float> scales, std::vector<float> mins, int64_t k, int64_t group);
  ScaleLayout layout() const { return layout_; }
  // log2 of the groups per super value (kCoded).
  int super_shift() const { return super_shift_; }
  uint64_t bytes() const;
  // Tile t's arrays.
  ScaleArray scales(int64_t t) const { return scales_.tile(t, layout_); }
  ScaleArray mins(int64_t t) const { return mins_.tile(t, layout_); }

 private:
  struct Stored {
    std::vector<float> f32;
    std::vector<uint16_t> f16;
    std::vector<int8_t> codes;
    std::vector<float> supers;
    int64_t per_tile = 0;         // values per tile
    int64_t supers_per_tile = 0;  // super values per tile
    ScaleArray tile(int64_t t, ScaleLayout layout) const;
    uint64_t bytes() const;
  };
  Stored scales_;
  Stored mins_;
  ScaleLayout layout_ = ScaleLayout::kF32;
  int super_shift_ = 0;
};

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_TILE_SCALES_H
