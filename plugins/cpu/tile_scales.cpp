// The scale layouts of the integer tiles: choosing the smallest exact one at prepack
// (see tile_scales.h).
#include "tile_scales.h"

#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "cpu_internal.h"
#include "quant_tiles.h"
#include "tessera/plugin.hpp"

namespace tsr::cpu {
namespace {

// f16 copies of `values` when every one converts to f16 and back to the same bits.
bool encode_f16(const std::vector<float>& values, std::vector<uint16_t>& out) {
  out.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    out[i] = sdk::f32_to_f16(values[i]);
    const float back = sdk::f16_to_f32(out[i]);
    if (std::memcmp(&back, &values[i], sizeof back) != 0) {
      out = {};  // release the memory, not only the size
      return false;
    }
  }
  return true;
}

// Codes of v[0], v[stride], ... (count values) as multiples of d, when every d * code
// (the f32 product the kernels compute) equals its value.
bool codes_for(const float* v, int64_t stride, int64_t count, float d, int8_t* codes) {
  for (int64_t g = 0; g < count; ++g) {
    const float value = v[g * stride];
    const float code = d != 0.0f ? std::nearbyint(value / d) : 0.0f;
    if (!(code >= -128.0f && code <= 127.0f) || d * code != value) return false;
    codes[g * stride] = static_cast<int8_t>(code);
  }
  return true;
}

// The kCoded layout of packed values [tile][group][16 rows]: per tile, row and run of
// `per_super` groups, d = (the largest-magnitude value) / n, first for the sub-scale maxima
// the K-quant quantizers reach without an importance matrix (63, 127, 128, 31, 32, 15), then
// for every n from 128 down (with one, the search may scale the largest sub-scale below the
// maximum). False when some run fits no candidate: a weight that is not coded fails on its
// first run, so the search costs little then.
bool encode_coded(const std::vector<float>& values, int64_t groups, int64_t per_super,
                  std::vector<int8_t>& codes, std::vector<float>& supers) {
  static constexpr float kMaxima[] = {63.0f, 127.0f, 128.0f, 31.0f, 32.0f, 15.0f};
  const int64_t tiles = static_cast<int64_t>(values.size()) / (groups * kTileRows);
  const int64_t supers_per_tile = groups / per_super;
  codes.assign(values.size(), 0);
  supers.assign(static_cast<size_t>(tiles * supers_per_tile * kTileRows), 0.0f);
  for (int64_t t = 0; t < tiles; ++t) {
    for (int64_t s = 0; s < supers_per_tile; ++s) {
      for (int64_t r = 0; r < kTileRows; ++r) {
        const size_t first = static_cast<size_t>((t * groups + s * per_super) * kTileRows + r);
        const float* v = values.data() + first;
        float largest = 0.0f;
        for (int64_t g = 0; g < per_super; ++g) {
          if (!(std::fabs(v[g * kTileRows]) <= std::fabs(largest))) largest = v[g * kTileRows];
        }
        float& d = supers[static_cast<size_t>((t * supers_per_tile + s) * kTileRows + r)];
        bool found = largest == 0.0f && codes_for(v, kTileRows, per_super, 0.0f, &codes[first]);
        const auto try_code = [&](float n) {
          for (float sign : {1.0f, -1.0f}) {
            if (found || sign * n > 127.0f) continue;
            d = largest / (sign * n);
            found = std::isfinite(d) && codes_for(v, kTileRows, per_super, d, &codes[first]);
          }
        };
        for (float n : kMaxima) try_code(n);
        for (int n = 128; n >= 1 && !found; --n) try_code(static_cast<float>(n));
        if (!found) return false;
      }
    }
  }
  return true;
}

// log2 of the groups per kSuperCols columns when that is a power of two >= 4 (with fewer,
// f16 would be as small) and the columns are whole super runs; -1 otherwise.
int super_shift_for(int64_t k, int64_t group) {
  if (k % kSuperCols != 0 || kSuperCols % group != 0) return -1;
  const int64_t per_super = kSuperCols / group;
  if (per_super < 4 || (per_super & (per_super - 1)) != 0) return -1;
  int shift = 0;
  while ((int64_t{1} << shift) < per_super) ++shift;
  return shift;
}

}  // namespace

void TileScales::assign(std::vector<float> scales, std::vector<float> mins, int64_t k,
                        int64_t group) {
  const int64_t groups = k / group;
  scales_ = Stored{};
  mins_ = Stored{};
  scales_.per_tile = groups * kTileRows;
  mins_.per_tile = mins.empty() ? 0 : groups * kTileRows;
  layout_ = ScaleLayout::kF32;
  // The host option cpu.compact_tile_scales=0 keeps f32 (for A/B measurements and tests).
  const char* option = host().option("cpu.compact_tile_scales");
  const bool compact = option == nullptr || std::string(option) != "0";
  const int shift = super_shift_for(k, group);
  if (compact && shift > 0 &&
      encode_coded(scales, groups, int64_t{1} << shift, scales_.codes, scales_.supers) &&
      encode_coded(mins, groups, int64_t{1} << shift, mins_.codes, mins_.supers)) {
    layout_ = ScaleLayout::kCoded;
    super_shift_ = shift;
    scales_.supers_per_tile = (groups >> shift) * kTileRows;
    mins_.supers_per_tile = mins.empty() ? 0 : scales_.supers_per_tile;
    return;
  }
  // Assigning empty vectors releases what the failed attempt allocated (clear() would keep
  // the capacity for the weight's lifetime, unseen by bytes()).
  scales_.codes = {};
  scales_.supers = {};
  mins_.codes = {};
  mins_.supers = {};
  if (compact && encode_f16(scales, scales_.f16) && encode_f16(mins, mins_.f16)) {
    layout_ = ScaleLayout::kF16;
    return;
  }
  scales_.f16 = {};
  mins_.f16 = {};
  scales_.f32 = std::move(scales);
  mins_.f32 = std::move(mins);
}

uint64_t TileScales::bytes() const {
  return scales_.bytes() + mins_.bytes();
}

uint64_t TileScales::Stored::bytes() const {
  return f32.size() * sizeof(float) + f16.size() * sizeof(uint16_t) + codes.size() +
         supers.size() * sizeof(float);
}

ScaleArray TileScales::Stored::tile(int64_t t, ScaleLayout layout) const {
  if (per_tile == 0) return {};
  const int64_t at = t * per_tile;
  switch (layout) {
    case ScaleLayout::kF32:
      return {f32.data() + at, nullptr};
    case ScaleLayout::kF16:
      return {f16.data() + at, nullptr};
    case ScaleLayout::kCoded:
      return {codes.data() + at, supers.data() + t * supers_per_tile};
  }
  return {};
}

}  // namespace tsr::cpu
