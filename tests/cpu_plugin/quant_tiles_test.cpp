// The row-interleaved integer tiles (plugins/cpu/quant_tiles.h) on every ISA path this CPU
// offers (generic, avx2, avx512 with VNNI): int8 group / per-channel and int4 group weights,
// batch sizes 1..33 (one tile kernel call covers up to 8 rows on AVX-512, 4 on AVX2, so these
// take every remainder), a row count that leaves a partial last tile, groups of one and two
// 32-blocks, and groups of 16 (split tiles: GGUF Q6_K, Q3_K). Each output is checked against
// a double reference within the bound the kernels state: the activations are quantized per
// 32-block with scale absmax/127, so
//   |y - sum_j x_j w_j| <= sum_b (0.5 * absmax_b / 127) * sum_{j in b} |w_j|
// plus f32 rounding of the per-block scaling (below 1e-5 of sum_j |x_j w_j| for these sizes),
// and the ISA paths agree with the generic one to f32 rounding (same quantized activations,
// exact integer products). Seeds are fixed and printed on failure.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <utility>

#include "plugin_harness.h"
#include "tessera/plugin.hpp"
#include "reference.h"

namespace tsr::test {
namespace {

struct Case {
  tsr_weight_format format;
  int64_t group;         // 0 for per-channel
  bool six_bit = false;  // int8 values within -32..31: the 6-bit tiles (GGUF Q6_K, Q5_0)
};

struct Weight {
  std::vector<uint8_t> data;
  std::vector<float> scales;
  std::vector<double> dense;  // [n][k]
};

Weight make(const Case& c, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  Weight w;
  const bool int4 = c.format == TSR_WEIGHT_FORMAT_INT4_GROUP;
  w.data.resize(static_cast<size_t>(int4 ? n * k / 2 : n * k));
  for (auto& b : w.data) b = static_cast<uint8_t>(byte(rng));
  if (c.six_bit) {
    for (auto& b : w.data) b = static_cast<uint8_t>(static_cast<int8_t>(b % 64 - 32));
  }
  const int64_t groups = c.group == 0 ? 1 : k / c.group;
  w.scales = random_floats(static_cast<size_t>(n * groups), seed + 1, 0.01f, 0.05f);
  w.dense = dequantize(c.format, n, k, c.group == 0 ? k : c.group, w.data.data(), w.scales.data());
  return w;
}

// A weight of `format` [n][k] (group 0: per channel; mins for the asymmetric formats).
tsr_weight_t prepack_weight(Plugin& p, tsr_weight_format format, int64_t n, int64_t k,
                            int64_t group, const void* data, const float* scales,
                            const float* mins = nullptr) {
  tsr_weight_desc d{};
  d.struct_size = sizeof d;
  d.format = format;
  d.rows = n;
  d.cols = k;
  d.group_size = group;
  d.data = data;
  d.scales = scales;
  d.mins = mins;
  d.compute_dtype = TSR_DTYPE_F32;
  tsr_weight_t out = nullptr;
  const Status s = take(p.api().weight_prepack(p.device(), &d, &out));
  EXPECT_TRUE(s.ok()) << s.message;
  return out;
}

tsr_weight_t prepack(Plugin& p, const Case& c, const Weight& w, int64_t n, int64_t k) {
  return prepack_weight(p, c.format, n, k, c.group, w.data.data(), w.scales.data());
}

std::vector<float> run_linear(Plugin& p, tsr_weight_t weight, const std::vector<float>& x,
                              int64_t m, int64_t n, int64_t k) {
  tsr_linear_params lp{};
  lp.struct_size = sizeof lp;
  lp.x = p.upload(x, TSR_DTYPE_F32, {m, k});
  lp.weight = weight;
  lp.out = p.empty(TSR_DTYPE_F32, {m, n});
  const Status s = take(p.ops().linear(p.stream(), &lp));
  EXPECT_TRUE(s.ok()) << s.message;
  return p.download<float>(lp.out, static_cast<size_t>(m * n));
}

// Per output: the stated bound, and sum_j |x_j w_j| (the scale of f32 rounding).
struct Bound {
  std::vector<double> quantization;
  std::vector<double> magnitude;
};

Bound bound_for(const std::vector<float>& x, const std::vector<double>& w, int64_t m, int64_t n,
                int64_t k) {
  Bound b{std::vector<double>(static_cast<size_t>(m * n)),
          std::vector<double>(static_cast<size_t>(m * n))};
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t r = 0; r < n; ++r) {
      double q = 0.0;
      double mag = 0.0;
      for (int64_t b0 = 0; b0 < k; b0 += 32) {
        double absmax = 0.0;
        double wsum = 0.0;
        for (int64_t j = b0; j < b0 + 32; ++j) {
          absmax = std::max(absmax, std::fabs(static_cast<double>(x[i * k + j])));
          wsum += std::fabs(w[r * k + j]);
          mag += std::fabs(x[i * k + j] * w[r * k + j]);
        }
        q += 0.5 * absmax / 127.0 * wsum;
      }
      b.quantization[i * n + r] = q;
      b.magnitude[i * n + r] = mag;
    }
  }
  return b;
}

std::vector<std::string> isas() {
  std::vector<std::string> out{"generic"};
  if (cpu_has_avx2()) out.push_back("avx2");
  if (cpu_has_avx512()) out.push_back("avx512");
  return out;
}

class QuantTiles : public ::testing::TestWithParam<Case> {};

TEST_P(QuantTiles, WithinStatedBoundOnEveryIsa) {
  const Case c = GetParam();
  const int64_t n = 40;  // tiles of 16, 16 and a partial 8
  const int64_t k = 128;
  const uint32_t seed = 17 + static_cast<uint32_t>(c.format) * 10 + static_cast<uint32_t>(c.group) +
                        (c.six_bit ? 5 : 0);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const Weight w = make(c, n, k, seed);
  std::map<int64_t, std::vector<float>> generic;
  for (const std::string& isa : isas()) {
    SCOPED_TRACE("isa " + isa);
    Plugin p(Options{{"cpu.isa", isa}});
    ASSERT_EQ(p.active_isa(), isa);
    tsr_weight_t weight = prepack(p, c, w, n, k);
    ASSERT_NE(weight, nullptr);
    for (int64_t m : {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33}) {
      SCOPED_TRACE("m " + std::to_string(m));
      // Spread magnitudes across blocks so per-block scales matter.
      std::vector<float> x = random_floats(static_cast<size_t>(m * k), seed + 100 + m);
      for (int64_t j = 0; j < m * k; ++j) x[j] *= 1.0f + static_cast<float>((j / 32) % 5);
      const std::vector<float> got = run_linear(p, weight, x, m, n, k);
      const auto ref = matmul(std::vector<double>(x.begin(), x.end()), w.dense, m, n, k);
      const Bound bound = bound_for(x, w.dense, m, n, k);
      int worst = -1;
      double worst_ratio = 0.0;
      for (size_t o = 0; o < got.size(); ++o) {
        const double allowed = bound.quantization[o] + 1e-5 * bound.magnitude[o];
        const double ratio = std::fabs(got[o] - ref[o]) / allowed;
        if (!(ratio <= worst_ratio)) {
          worst_ratio = ratio;
          worst = static_cast<int>(o);
        }
      }
      EXPECT_LE(worst_ratio, 1.0) << "output " << worst << ": got " << got[worst] << ", reference "
                                  << ref[worst] << ", bound " << bound.quantization[worst];
      if (isa == "generic") {
        generic[m] = got;
      } else {
        const std::vector<float>& g = generic.at(m);
        for (size_t o = 0; o < got.size(); ++o) {
          EXPECT_LE(std::fabs(got[o] - g[o]), 1e-5 * bound.magnitude[o])
              << "output " << o << " differs from the generic path";
        }
      }
    }
    EXPECT_TRUE(take(p.api().weight_destroy(weight)).ok());
  }
}

// A NaN activation takes the float path for the whole call: its row is NaN, the other rows
// are exact dequantized-weight products.
TEST_P(QuantTiles, NonFiniteActivationsPropagate) {
  const Case c = GetParam();
  const int64_t n = 20;
  const int64_t k = 64;
  const Weight w = make(c, n, k, 5);
  for (const std::string& isa : isas()) {
    SCOPED_TRACE("isa " + isa);
    Plugin p(Options{{"cpu.isa", isa}});
    tsr_weight_t weight = prepack(p, c, w, n, k);
    const int64_t m = 3;
    std::vector<float> x = random_floats(static_cast<size_t>(m * k), 6);
    x[k + 5] = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> got = run_linear(p, weight, x, m, n, k);
    const auto ref = matmul(std::vector<double>(x.begin(), x.end()), w.dense, m, n, k);
    for (int64_t r = 0; r < n; ++r) {
      EXPECT_TRUE(std::isnan(got[n + r])) << "row 1, output " << r;
      for (int64_t i : {0, 2}) {
        EXPECT_NEAR(got[i * n + r], ref[i * n + r], 1e-5 * (1.0 + std::fabs(ref[i * n + r])));
      }
    }
    EXPECT_TRUE(take(p.api().weight_destroy(weight)).ok());
  }
}

INSTANTIATE_TEST_SUITE_P(IntegerFormats, QuantTiles,
                         ::testing::Values(Case{TSR_WEIGHT_FORMAT_INT8_GROUP, 16},
                                           Case{TSR_WEIGHT_FORMAT_INT8_GROUP, 16, true},
                                           Case{TSR_WEIGHT_FORMAT_INT8_GROUP, 32, true},
                                           Case{TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL, 0, true},
                                           Case{TSR_WEIGHT_FORMAT_INT8_GROUP, 32},
                                           Case{TSR_WEIGHT_FORMAT_INT8_GROUP, 64},
                                           Case{TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL, 0},
                                           Case{TSR_WEIGHT_FORMAT_INT4_GROUP, 16},
                                           Case{TSR_WEIGHT_FORMAT_INT4_GROUP, 32},
                                           Case{TSR_WEIGHT_FORMAT_INT4_GROUP, 64}));

// Compact scale layouts (plugins/cpu/tile_scales.h). Scales (and mins) that are f16 values,
// as GGUF Q8_0 / Q4_0 / Q4_1 / Q5_1 store them, are kept as f16: 2 bytes per value. Scales
// that are an f16 d per 256 columns times small integers, as the K-quants' are (Q6_K: int8
// sub-scales down to -128; Q3_K: -32..31; Q4_K / Q5_K: 0..63; Q2_K: 0..15), are kept as int8
// codes and an f32 per 256 columns. Either way every output is bitwise equal to the f32
// layout's (cpu.compact_tile_scales=0) on every ISA path, on the integer and the float
// (cpu.q8_activations=0) paths. One value that fits neither keeps the whole weight in f32.
enum class ScaleKind { kHalf, kCoded };

struct ScaleCase {
  tsr_weight_format format;
  int64_t group;  // 0: per channel
  ScaleKind kind;
  int code_min;  // kCoded: the sub-scale range, its end (the largest magnitude) in every run
  int code_max;
  bool six_bit = false;  // int8 data within -32..31 (6-bit tiles)
};

// n x groups values as d * code: one random f16 d per row and 256 columns, codes uniform in
// [lo, hi] with the run's first group at the end of larger magnitude.
std::vector<float> coded_values(int64_t n, int64_t groups, int64_t per_super, int lo, int hi,
                                uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(lo, hi);
  std::uniform_real_distribution<float> mag(0.0005f, 0.004f);
  const int extreme = std::abs(lo) > std::abs(hi) ? lo : hi;
  std::vector<float> out(static_cast<size_t>(n * groups));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t s = 0; s < groups / per_super; ++s) {
      const float d = tsr::sdk::f16_to_f32(tsr::sdk::f32_to_f16(mag(rng)));
      for (int64_t g = 0; g < per_super; ++g) {
        const int c = g == 0 ? extreme : code(rng);
        out[static_cast<size_t>(r * groups + s * per_super + g)] = d * static_cast<float>(c);
      }
    }
  }
  return out;
}

class CompactScales : public ::testing::TestWithParam<ScaleCase> {};

// One tiled weight of a ScaleCase: codes, scales and (asymmetric formats) mins.
struct ScaleCaseWeight {
  bool asym = false;
  std::vector<uint8_t> data;
  std::vector<float> scales, mins;
};

ScaleCaseWeight make_scale_case(const ScaleCase& c, int64_t n, int64_t k, uint32_t seed) {
  const bool coded = c.kind == ScaleKind::kCoded;
  ScaleCaseWeight w;
  w.asym = c.format == TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM ||
           c.format == TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM;
  const bool nibbles =
      c.format == TSR_WEIGHT_FORMAT_INT4_GROUP || c.format == TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM;
  std::mt19937 rng(seed);
  // INT8_GROUP_ASYM codes below 32 take the 5-bit tiles.
  std::uniform_int_distribution<int> byte(0,
                                          c.format == TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM ? 31 : 255);
  w.data.resize(static_cast<size_t>(nibbles ? n * k / 2 : n * k));
  for (auto& b : w.data) b = static_cast<uint8_t>(byte(rng));
  if (c.six_bit) {
    for (auto& b : w.data) b = static_cast<uint8_t>(static_cast<int8_t>(b % 64 - 32));
  }
  const int64_t groups = c.group == 0 ? 1 : k / c.group;
  const auto to_f16 = [](std::vector<float> v) {
    for (float& f : v) f = tsr::sdk::f16_to_f32(tsr::sdk::f32_to_f16(f));
    return v;
  };
  if (coded) {
    const int64_t per_super = 256 / c.group;
    w.scales = coded_values(n, groups, per_super, c.code_min, c.code_max, seed + 1);
    w.mins = coded_values(n, groups, per_super, -c.code_max, 0, seed + 2);
  } else {
    w.scales = to_f16(random_floats(static_cast<size_t>(n * groups), seed + 1, 0.005f, 0.05f));
    w.mins = to_f16(random_floats(static_cast<size_t>(n * groups), seed + 2, -0.15f, 0.0f));
  }
  return w;
}

TEST_P(CompactScales, BitwiseEqualToF32AndSmaller) {
  const ScaleCase c = GetParam();
  const bool coded = c.kind == ScaleKind::kCoded;
  const int64_t n = 40;
  const int64_t k = coded ? 512 : 128;
  const uint32_t seed = 90 + static_cast<uint32_t>(c.format) * 7 + static_cast<uint32_t>(c.group);
  SCOPED_TRACE("seed " + std::to_string(seed) + " format " + std::to_string(c.format));
  ScaleCaseWeight weight_case = make_scale_case(c, n, k, seed);
  const bool asym = weight_case.asym;
  const std::vector<uint8_t>& data = weight_case.data;
  std::vector<float>& scales = weight_case.scales;
  const std::vector<float>& mins = weight_case.mins;
  const int64_t groups = c.group == 0 ? 1 : k / c.group;
  const auto prepack_with = [&](Plugin& p, const std::vector<float>& s) {
    tsr_weight_t out = prepack_weight(p, c.format, n, k, c.group, data.data(), s.data(),
                                      asym ? mins.data() : nullptr);
    uint64_t bytes = 0;
    EXPECT_TRUE(take(p.api().weight_bytes(out, &bytes)).ok());
    return std::make_pair(out, bytes);
  };
  // Tiles pad n to 48 rows; each row holds `groups` scales (and as many mins), and for kCoded
  // one f32 per 256 columns (for the mins too).
  const uint64_t arrays = asym ? 2 : 1;
  const uint64_t values = static_cast<uint64_t>(48 * groups) * arrays;
  const uint64_t saved =
      coded ? 3 * values - 4 * static_cast<uint64_t>(48 * (k / 256)) * arrays : 2 * values;
  for (const std::string& isa : isas()) {
    for (const char* q8 : {"1", "0"}) {
      SCOPED_TRACE("isa " + isa + " q8_activations " + q8);
      Plugin compact(Options{{"cpu.isa", isa}, {"cpu.q8_activations", q8}});
      Plugin full(
          Options{{"cpu.isa", isa}, {"cpu.q8_activations", q8}, {"cpu.compact_tile_scales", "0"}});
      const auto [compact_weight, compact_bytes] = prepack_with(compact, scales);
      const auto [full_weight, full_bytes] = prepack_with(full, scales);
      ASSERT_NE(compact_weight, nullptr);
      ASSERT_NE(full_weight, nullptr);
      EXPECT_EQ(full_bytes - compact_bytes, saved);
      for (int64_t m : {1, 3, 8, 9, 17}) {
        SCOPED_TRACE("m " + std::to_string(m));
        const std::vector<float> x =
            random_floats(static_cast<size_t>(m * k), seed + 10 + static_cast<uint32_t>(m));
        const std::vector<float> a = run_linear(compact, compact_weight, x, m, n, k);
        const std::vector<float> b = run_linear(full, full_weight, x, m, n, k);
        for (size_t o = 0; o < a.size(); ++o) {
          ASSERT_EQ(std::memcmp(&a[o], &b[o], sizeof(float)), 0)
              << "output " << o << ": compact scales " << a[o] << ", f32 scales " << b[o];
        }
      }
      EXPECT_TRUE(take(compact.api().weight_destroy(compact_weight)).ok());
      EXPECT_TRUE(take(full.api().weight_destroy(full_weight)).ok());
    }
  }
  // One scale that neither layout holds exactly: the whole weight keeps f32 scales.
  scales[7] = 0.0123456789f;
  Plugin p;
  const auto [weight, bytes] = prepack_with(p, scales);
  Plugin full(Options{{"cpu.compact_tile_scales", "0"}});
  const auto [full_weight, full_bytes] = prepack_with(full, scales);
  EXPECT_EQ(bytes, full_bytes);
  EXPECT_TRUE(take(p.api().weight_destroy(weight)).ok());
  EXPECT_TRUE(take(full.api().weight_destroy(full_weight)).ok());
}

// The AMX path (quant_tiles_amx.cpp, calls of 16 rows or more where the CPU has AMX-INT8)
// repeats the VNNI kernel's exact integer sums and its f32 scaling in its order: every output
// is bitwise equal to cpu.amx=0's, for every tiled format, scale layout and split, with
// partial 16-row chunks and a partial last tile. Skipped where this CPU lacks AMX-INT8.
TEST_P(CompactScales, AmxBitwiseEqualToVnni) {
  if (!cpu_has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512";
  const ScaleCase c = GetParam();
  const int64_t n = 40;
  // An odd number of 32-blocks where the group allows (the AMX kernel pairs blocks).
  const int64_t k = c.kind == ScaleKind::kCoded ? 512 : c.group == 64 ? 192 : 160;
  const uint32_t seed = 290 + static_cast<uint32_t>(c.format) * 7 + static_cast<uint32_t>(c.group);
  SCOPED_TRACE("seed " + std::to_string(seed) + " format " + std::to_string(c.format));
  const ScaleCaseWeight w = make_scale_case(c, n, k, seed);
  Plugin amx(Options{{"cpu.isa", "avx512"}});
  Plugin vnni(Options{{"cpu.isa", "avx512"}, {"cpu.amx", "0"}});
  ASSERT_EQ(amx.active_isa(), "avx512");
  // The plugin lists amx-int8 among the CPU's features only when it can use it (CPU, OS
  // permission, build).
  if (amx.diag("cpu.isa").find("amx-int8") == std::string::npos) {
    GTEST_SKIP() << "no AMX-INT8 here (CPU, OS or build)";
  }
  const auto prepack_in = [&](Plugin& p) {
    return prepack_weight(p, c.format, n, k, c.group, w.data.data(), w.scales.data(),
                          w.asym ? w.mins.data() : nullptr);
  };
  tsr_weight_t amx_weight = prepack_in(amx);
  tsr_weight_t vnni_weight = prepack_in(vnni);
  ASSERT_NE(amx_weight, nullptr);
  ASSERT_NE(vnni_weight, nullptr);
  for (int64_t m : {16, 17, 31, 48, 70}) {
    SCOPED_TRACE("m " + std::to_string(m));
    std::vector<float> x =
        random_floats(static_cast<size_t>(m * k), seed + 10 + static_cast<uint32_t>(m));
    for (int64_t j = 0; j < m * k; ++j) x[j] *= 1.0f + static_cast<float>((j / 32) % 5);
    const std::vector<float> a = run_linear(amx, amx_weight, x, m, n, k);
    const std::vector<float> b = run_linear(vnni, vnni_weight, x, m, n, k);
    for (size_t o = 0; o < a.size(); ++o) {
      ASSERT_EQ(std::memcmp(&a[o], &b[o], sizeof(float)), 0)
          << "output " << o << ": amx " << a[o] << ", vnni " << b[o];
    }
  }
  EXPECT_TRUE(take(amx.api().weight_destroy(amx_weight)).ok());
  EXPECT_TRUE(take(vnni.api().weight_destroy(vnni_weight)).ok());
}

INSTANTIATE_TEST_SUITE_P(
    TiledFormats, CompactScales,
    ::testing::Values(
        ScaleCase{TSR_WEIGHT_FORMAT_INT8_GROUP, 32, ScaleKind::kHalf, 0, 0},
        ScaleCase{TSR_WEIGHT_FORMAT_INT8_GROUP, 16, ScaleKind::kHalf, 0, 0},
        ScaleCase{TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, 16, ScaleKind::kHalf, 0, 0},
        ScaleCase{TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL, 0, ScaleKind::kHalf, 0, 0},
        ScaleCase{TSR_WEIGHT_FORMAT_INT4_GROUP, 64, ScaleKind::kHalf, 0, 0},
        ScaleCase{TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, 32, ScaleKind::kHalf, 0, 0},
        ScaleCase{TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM, 32, ScaleKind::kHalf, 0, 0},
        // The K-quants: Q6_K, Q3_K, Q4_K, Q2_K, Q5_K.
        ScaleCase{TSR_WEIGHT_FORMAT_INT8_GROUP, 16, ScaleKind::kCoded, -128, 127},
        ScaleCase{TSR_WEIGHT_FORMAT_INT8_GROUP, 16, ScaleKind::kCoded, -128, 127, true},
        ScaleCase{TSR_WEIGHT_FORMAT_INT8_GROUP, 32, ScaleKind::kHalf, 0, 0, true},
        ScaleCase{TSR_WEIGHT_FORMAT_INT4_GROUP, 16, ScaleKind::kCoded, -32, 31},
        ScaleCase{TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, 32, ScaleKind::kCoded, 0, 63},
        // Sub-scales whose largest is not a quantizer's maximum (an importance-matrix search).
        ScaleCase{TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, 32, ScaleKind::kCoded, 0, 61},
        ScaleCase{TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, 16, ScaleKind::kCoded, 0, 15},
        ScaleCase{TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM, 32, ScaleKind::kCoded, 0, 63}),
    [](const auto& info) {
      return "format" + std::to_string(info.param.format) + "_group" +
             std::to_string(info.param.group) +
             (info.param.kind == ScaleKind::kCoded ? "_coded" + std::to_string(info.param.code_max)
                                                   : std::string("_half")) +
             (info.param.six_bit ? "_six_bit" : "");
    });

}  // namespace
}  // namespace tsr::test
