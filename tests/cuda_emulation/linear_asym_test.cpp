// The CUDA plugin's asymmetric group formats (w = u * scale + min per group: INT4_GROUP_ASYM,
// GGUF Q4_1/Q2_K/Q4_K; INT8_GROUP_ASYM, GGUF Q5_1/Q5_K) under the SIMT emulator: the weight
// is prepacked by the plugin's own host code (weight_layout.cpp) into host memory, then the
// batch-1..8 GEMV and the tiled (prefill) GEMM of linear_quant.cu run on it and are checked
// against dequantize-then-matmul in float64.
//
// Error bound per output y = bias + sum_j w_j x_j (x and bias exact in their dtype): the
// kernels round w_j = u * scale + min once (fma), each product once and each of the K
// additions once, all in f32, so for any summation order
//   |got - y| <= (K + 3) * 2^-24 * (|bias| + sum_j |w_j x_j|)           (f32 out),
// and a 16-bit output adds half its relative step of |y| plus that error.
// Seeds are fixed per case and printed in the failure trace.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "emulation_util.h"
#include "linear_kernels.h"
#include "tensor_check.h"
#include "weight_layout.h"

// weight_layout.cpp validates only descriptors, never a tensor view, so the buffer lookup
// the plugin checks library wants from each plugin refuses every handle here.
namespace tsr::plugin {
BufferExtent buffer_extent(tsr_buffer_t, const char* field) {
  throw std::logic_error(std::string("no buffers in the emulated tests: ") + field);
}
}  // namespace tsr::plugin

namespace tsr::test {
namespace {

using cuda::WeightKind;

// A canonical asym weight (plugin.h layout) and its float64 dequantization.
struct CanonicalAsym {
  tsr_weight_format format = TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM;
  int64_t n = 0, k = 0, group = 0;
  std::vector<unsigned char> data;
  std::vector<float> scales, mins;
  std::vector<double> deq;  // [n][k]

  tsr_weight_desc desc(tsr_dtype compute) const {
    tsr_weight_desc d{};
    d.struct_size = sizeof d;
    d.format = format;
    d.rows = n;
    d.cols = k;
    d.group_size = group;
    d.data = data.data();
    d.scales = scales.data();
    d.mins = mins.data();
    d.compute_dtype = compute;
    return d;
  }
};

bool is_int4(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM;  // else INT8_GROUP_ASYM
}

CanonicalAsym make_canonical(tsr_weight_format format, int64_t n, int64_t k, int64_t group,
                             std::mt19937& rng) {
  CanonicalAsym w;
  w.format = format;
  w.n = n;
  w.k = k;
  w.group = group;
  const bool int4 = is_int4(format);
  const int levels = int4 ? 16 : 256;
  w.data.assign(static_cast<size_t>(int4 ? n * k / 2 : n * k), 0);
  // As GGUF's Q4_1: the min is about minus the range, so weights straddle zero.
  std::uniform_real_distribution<float> unit(0.5f, 1.5f);
  const int64_t groups = n * (k / group);
  for (int64_t g = 0; g < groups; ++g) {
    const float scale = unit(rng) * 0.1f / static_cast<float>(levels);
    w.scales.push_back(scale);
    w.mins.push_back(-unit(rng) * scale * static_cast<float>(levels) / 2);
  }
  w.deq.resize(static_cast<size_t>(n * k));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      const unsigned u = static_cast<unsigned>(rng() % static_cast<unsigned>(levels));
      if (int4) {
        unsigned char& byte = w.data[static_cast<size_t>((r * k + c) / 2)];
        byte =
            static_cast<unsigned char>(c % 2 == 0 ? (byte & 0xf0u) | u : (byte & 0x0fu) | u << 4);
      } else {
        w.data[static_cast<size_t>(r * k + c)] = static_cast<unsigned char>(u);
      }
      const size_t g = static_cast<size_t>(r * (k / group) + c / group);
      w.deq[static_cast<size_t>(r * k + c)] =
          static_cast<double>(u) * w.scales[g] + static_cast<double>(w.mins[g]);
    }
  }
  return w;
}

// The prepacked weight in host memory (emulated device memory), laid out by the plugin.
struct Packed {
  std::vector<unsigned char> storage;
  cuda::WeightLayout layout;
  cuda::WeightView view;
};

Packed pack(const CanonicalAsym& w, tsr_dtype compute) {
  const tsr_weight_desc d = w.desc(compute);
  cuda::check_weight_desc(&d);
  Packed p;
  p.layout = cuda::plan_weight_layout(d, compute);
  p.storage.assign(p.layout.total_bytes + 256, 0xee);
  auto* base = reinterpret_cast<unsigned char*>(
      (reinterpret_cast<uintptr_t>(p.storage.data()) + 255) & ~uintptr_t{255});
  cuda::pack_weight_rows(d, p.layout, compute, 0, w.n, base);
  std::memcpy(base + p.layout.scales_offset, w.scales.data(), p.layout.scales_bytes);
  std::memcpy(base + p.layout.mins_offset, w.mins.data(), p.layout.mins_bytes);
  cuda::bind_weight_view(p.layout, base, &p.view);
  return p;
}

enum class Path { kGemv, kTiled };

double half_step(tsr_dtype t) {
  // Half a unit in the last place, relative: bf16 keeps 8 significant bits, f16 11.
  return t == TSR_DTYPE_BF16 ? std::ldexp(1.0, -8) : t == TSR_DTYPE_F16 ? std::ldexp(1.0, -11) : 0;
}

struct Case {
  tsr_weight_format format;
  Path path;
  int64_t m, n, k, group;
  tsr_dtype x_dtype, out_dtype;
};

void run(const Case& cs, uint32_t seed) {
  SCOPED_TRACE(::testing::Message()
               << "format " << cs.format << " path " << (cs.path == Path::kGemv ? "gemv" : "tiled")
               << " m " << cs.m << " n " << cs.n << " k " << cs.k << " group " << cs.group << " x "
               << dtype_name(cs.x_dtype) << " out " << dtype_name(cs.out_dtype) << " seed "
               << seed);
  std::mt19937 rng(seed);
  const CanonicalAsym w = make_canonical(cs.format, cs.n, cs.k, cs.group, rng);
  const Packed p = pack(w, cs.x_dtype);
  ASSERT_EQ(p.view.kind, is_int4(cs.format) ? WeightKind::kInt4Asym : WeightKind::kInt8Asym);
  const Buffer x = random_buffer(cs.x_dtype, static_cast<size_t>(cs.m * cs.k), rng);
  const Buffer bias = random_buffer(cs.x_dtype, static_cast<size_t>(cs.n), rng, 0.1f);
  Buffer out(cs.out_dtype, static_cast<size_t>(cs.m * cs.n));
  for (size_t i = 0; i < out.size(); ++i) out.set(i, 777.0f);
  cuda::LinearIo io;
  io.x = x.data();
  io.x_dtype = cs.x_dtype;
  io.m = cs.m;
  io.bias = bias.data();
  io.out = out.data();
  io.out_dtype = cs.out_dtype;
  const cudaError_t rc = cs.path == Path::kGemv ? cuda::launch_quant_gemv(p.view, io, nullptr)
                                                : cuda::launch_tiled_gemm(p.view, io, nullptr);
  ASSERT_EQ(rc, cudaSuccess);
  expect_clean_emulation();
  const double f32_bound = static_cast<double>(cs.k + 3) * std::ldexp(1.0, -24);
  int bad = 0;
  for (int64_t r = 0; r < cs.m; ++r) {
    for (int64_t c = 0; c < cs.n; ++c) {
      double want = bias.get(static_cast<size_t>(c)), mag = std::fabs(want);
      for (int64_t e = 0; e < cs.k; ++e) {
        const double term =
            w.deq[static_cast<size_t>(c * cs.k + e)] * x.get(static_cast<size_t>(r * cs.k + e));
        want += term;
        mag += std::fabs(term);
      }
      const double acc_err = f32_bound * mag;
      const double bound = acc_err + (std::fabs(want) + acc_err) * half_step(cs.out_dtype);
      const double got = out.get(static_cast<size_t>(r * cs.n + c));
      if (!(std::fabs(got - want) <= bound) && bad++ < 5) {
        ADD_FAILURE() << "out[" << r << "," << c << "] = " << got << ", want " << want << ", bound "
                      << bound;
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

// Batch sizes 1, 3 and 16 as linear sees them: up to kGemvMaxRows the GEMV, beyond it the
// tiled GEMM (which also serves any batch, so it runs at 1 and 3 as well). K values are not
// multiples of the GEMV's 16-byte load (32 int4 / 16 int8 elements), of its 1024-element
// staging chunk or of the tiled kernel's 32-element K step, and groups are smaller than,
// equal to, not aligned with and larger than a load, plus one group per row (group == K).
void run_format(tsr_weight_format f, uint32_t seed) {
  const bool int4 = is_int4(f);
  struct Shape {
    int64_t n, k, group;
  };
  const std::vector<Shape> shapes =
      int4 ? std::vector<Shape>{{20, 96, 32},    {9, 208, 16},    {17, 200, 20},
                                {16, 1100, 100}, {8, 1040, 1040}, {12, 72, 8}}
           : std::vector<Shape>{{20, 96, 32},    {9, 200, 8},     {17, 208, 16},
                                {16, 1100, 100}, {8, 1040, 1040}, {12, 72, 24}};
  for (const Shape& s : shapes) {
    for (int64_t m : {1, 3, 16}) {
      const tsr_dtype x = seed % 3 == 0   ? TSR_DTYPE_F32
                          : seed % 3 == 1 ? TSR_DTYPE_BF16
                                          : TSR_DTYPE_F16;
      const tsr_dtype out = seed % 2 == 0 ? TSR_DTYPE_F32 : x;
      if (m <= cuda::kGemvMaxRows) {
        run({f, Path::kGemv, m, s.n, s.k, s.group, x, out}, seed++);
      }
      run({f, Path::kTiled, m, s.n, s.k, s.group, x, out}, seed++);
    }
  }
  // Every GEMV staging width (1, 2, 4, 8 rows) and a grid of several blocks (n > 16 rows).
  for (int64_t m : {2, 5, 8}) {
    run({f, Path::kGemv, m, 40, 64, 32, TSR_DTYPE_F32, TSR_DTYPE_F32}, seed++);
  }
}

TEST(EmulatedLinearAsym, Int4GroupAsymGemvAndTiledMatchFloat64) {
  run_format(TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, 1000);
}

TEST(EmulatedLinearAsym, Int8GroupAsymGemvAndTiledMatchFloat64) {
  run_format(TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM, 2000);
}

TEST(EmulatedLinearAsym, PrepackLayoutPadsRowsAndPlacesMins) {
  std::mt19937 rng(7);
  const CanonicalAsym w = make_canonical(TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, 3, 40, 8, rng);
  const Packed p = pack(w, TSR_DTYPE_F32);
  EXPECT_EQ(p.view.ld, 32);  // 20 bytes of nibbles, padded to 16
  EXPECT_EQ(p.view.groups, 5);
  EXPECT_EQ(p.layout.scales_offset % 256, 0u);
  EXPECT_EQ(p.layout.mins_offset % 256, 0u);
  EXPECT_GE(p.layout.mins_offset, p.layout.scales_offset + p.layout.scales_bytes);
  EXPECT_EQ(p.layout.mins_bytes, 3u * 5u * sizeof(float));
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t b = 0; b < 32; ++b) {
      const unsigned char want = b < 20 ? w.data[static_cast<size_t>(r * 20 + b)] : 0;
      ASSERT_EQ(p.view.data[r * 32 + b], want) << "row " << r << " byte " << b;
    }
  }
  for (size_t g = 0; g < w.mins.size(); ++g) {
    EXPECT_EQ(p.view.mins[g], w.mins[g]);
    EXPECT_EQ(p.view.scales[g], w.scales[g]);
  }
  // uint8 codes: 40 bytes a row, padded with code 0 to 48.
  const CanonicalAsym w8 = make_canonical(TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM, 2, 40, 20, rng);
  const Packed p8 = pack(w8, TSR_DTYPE_BF16);
  EXPECT_EQ(p8.view.ld, 48);
  EXPECT_EQ(p8.view.groups, 2);
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t b = 0; b < 48; ++b) {
      const unsigned char want = b < 40 ? w8.data[static_cast<size_t>(r * 40 + b)] : 0;
      ASSERT_EQ(p8.view.data[r * 48 + b], want) << "int8 row " << r << " byte " << b;
    }
  }
  for (size_t g = 0; g < w8.mins.size(); ++g) EXPECT_EQ(p8.view.mins[g], w8.mins[g]);
}

// One descriptor check: the message must name what is wrong.
void expect_rejected(const tsr_weight_desc& d, const std::string& needle) {
  try {
    cuda::check_weight_desc(&d);
    ADD_FAILURE() << "accepted; expected an error naming '" << needle << "'";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(EmulatedLinearAsym, PrepackRejectsBadAsymDescriptors) {
  std::mt19937 rng(8);
  for (tsr_weight_format f :
       {TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM}) {
    SCOPED_TRACE(::testing::Message() << "format " << f);
    const CanonicalAsym w = make_canonical(f, 2, 32, 16, rng);
    tsr_weight_desc d = w.desc(TSR_DTYPE_F32);
    d.mins = nullptr;
    expect_rejected(d, "mins");
    d = w.desc(TSR_DTYPE_F32);
    d.struct_size = offsetof(tsr_weight_desc, mins);  // ABI 1.0: no room for mins
    expect_rejected(d, "mins");
    d = w.desc(TSR_DTYPE_F32);
    d.scales = nullptr;
    expect_rejected(d, "scales");
    d = w.desc(TSR_DTYPE_F32);
    d.group_size = 12;
    expect_rejected(d, "group_size");
    d = w.desc(TSR_DTYPE_F32);
    d.format = static_cast<tsr_weight_format>(TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM + 1);
    expect_rejected(d, "format");
  }
  // 4-bit codes come in pairs.
  const CanonicalAsym w4 = make_canonical(TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, 2, 32, 16, rng);
  tsr_weight_desc d = w4.desc(TSR_DTYPE_F32);
  d.cols = 31;
  d.group_size = 31;
  expect_rejected(d, "cols");
}

}  // namespace
}  // namespace tsr::test
