// The linear op's own kernels (linear_quant.cu, linear_fp8.cu) run by the SIMT emulator:
// the quantized GEMV (int8 per-channel and grouped with groups aligned or not to a 16-byte
// load, int4 grouped, fp8 per-channel; 1 to 8 rows; K over one staging chunk) and the tiled
// GEMM (every weight kind, partial tiles) against dequantize-then-matmul in double, and the
// fp8 activation quantizer, epilogue and dtype conversion against host references. Weights
// use the prepacked layout of cuda_weights.h (rows padded to 16 bytes with zero codes).
#include <gtest/gtest.h>

#include <cmath>

#include "emulation_util.h"
#include "linear_kernels.h"

namespace tsr::test {
namespace {

using cuda::WeightKind;

// e4m3fn (no infinities; 0x7f/0xff NaN) to its value.
double e4m3_value(unsigned code) {
  const int sign = (code & 0x80u) != 0 ? -1 : 1;
  const int exp = static_cast<int>((code >> 3) & 0xfu);
  const int man = static_cast<int>(code & 7u);
  if (exp == 0) return sign * std::ldexp(man / 8.0, -6);
  return sign * std::ldexp(1.0 + man / 8.0, exp - 7);
}

// Round to nearest e4m3, ties to the even code, saturating to ±448.
unsigned char e4m3_encode(float x) {
  const double a = std::fabs(static_cast<double>(x));
  unsigned best = 0;
  for (unsigned c = 1; c < 0x7f; ++c) {
    const double d = std::fabs(e4m3_value(c) - a), bd = std::fabs(e4m3_value(best) - a);
    if (d < bd || (d == bd && (c & 1u) == 0)) best = c;
  }
  return static_cast<unsigned char>(best | (std::signbit(x) ? 0x80u : 0u));
}

struct Weight {
  std::vector<unsigned char> storage;
  std::vector<float> scales;
  std::vector<double> deq;  // [n][k]
  cuda::WeightView view;
};

Weight make_weight(WeightKind kind, int64_t n, int64_t k, int64_t group, std::mt19937& rng) {
  Weight w;
  const bool quant =
      kind == WeightKind::kInt8 || kind == WeightKind::kInt4 || kind == WeightKind::kFp8;
  int64_t ld = 0;
  switch (kind) {
    case WeightKind::kF32:
      ld = 4 * k;
      break;
    case WeightKind::kF16:
    case WeightKind::kBF16:
      ld = 2 * k;
      break;
    case WeightKind::kInt4:
      ld = (k / 2 + 15) / 16 * 16;
      break;
    default:
      ld = (k + 15) / 16 * 16;
      break;
  }
  w.storage.assign(static_cast<size_t>(n * ld + 256), kind == WeightKind::kInt4 ? 0x88 : 0);
  auto* base = reinterpret_cast<unsigned char*>(
      (reinterpret_cast<uintptr_t>(w.storage.data()) + 255) & ~uintptr_t{255});
  const int64_t groups = quant ? k / group : 1;
  std::uniform_real_distribution<float> sd(0.01f, 0.1f);
  if (quant) {
    for (int64_t i = 0; i < n * groups; ++i) w.scales.push_back(sd(rng));
  }
  w.deq.assign(static_cast<size_t>(n * k), 0.0);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t r = 0; r < n; ++r) {
    unsigned char* row = base + r * ld;
    for (int64_t c = 0; c < k; ++c) {
      const double scale = quant ? w.scales[static_cast<size_t>(r * groups + c / group)] : 1.0;
      double v = 0.0;
      if (kind == WeightKind::kInt8) {
        const auto q = static_cast<signed char>(static_cast<int>(rng() % 255) - 127);
        row[c] = static_cast<unsigned char>(q);
        v = q;
      } else if (kind == WeightKind::kInt4) {
        const unsigned u = rng() % 16;
        unsigned char& byte = row[c / 2];
        byte = (c % 2 == 0) ? static_cast<unsigned char>((byte & 0xf0u) | u)
                            : static_cast<unsigned char>((byte & 0x0fu) | (u << 4));
        v = static_cast<double>(u) - 8.0;
      } else if (kind == WeightKind::kFp8) {
        unsigned code = rng() % 256;
        if ((code & 0x7fu) == 0x7fu) code = 0x38;  // no NaN
        row[c] = static_cast<unsigned char>(code);
        v = e4m3_value(code);
      } else {
        const tsr_dtype t = kind == WeightKind::kF32   ? TSR_DTYPE_F32
                            : kind == WeightKind::kF16 ? TSR_DTYPE_F16
                                                       : TSR_DTYPE_BF16;
        const float x = round_to(t, nd(rng));
        Buffer one(t, 1);
        one.set(0, x);
        std::memcpy(row + c * static_cast<int64_t>(dtype_size(t)), one.data(), dtype_size(t));
        v = x;
      }
      w.deq[static_cast<size_t>(r * k + c)] = v * scale;
    }
  }
  w.view.data = base;
  w.view.scales = quant ? w.scales.data() : nullptr;
  w.view.n = n;
  w.view.k = k;
  w.view.ld = ld;
  w.view.group = quant ? group : k;
  w.view.groups = groups;
  w.view.kind = kind;
  return w;
}

enum class Path { kGemv, kTiled };

void run(WeightKind kind, Path path, int64_t m, int64_t n, int64_t k, int64_t group,
         tsr_dtype x_dtype, tsr_dtype out_dtype, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "kind " << static_cast<int>(kind) << " path "
                                    << (path == Path::kGemv ? "gemv" : "tiled") << " m " << m
                                    << " n " << n << " k " << k << " group " << group << " x "
                                    << dtype_name(x_dtype) << " out " << dtype_name(out_dtype));
  std::mt19937 rng(seed);
  const Weight w = make_weight(kind, n, k, group, rng);
  const Buffer x = random_buffer(x_dtype, static_cast<size_t>(m * k), rng);
  const Buffer bias = random_buffer(x_dtype, static_cast<size_t>(n), rng);
  Buffer out(out_dtype, static_cast<size_t>(m * n));
  for (size_t i = 0; i < out.size(); ++i) out.set(i, 777.0f);
  cuda::LinearIo io;
  io.x = x.data();
  io.x_dtype = x_dtype;
  io.m = m;
  io.bias = bias.data();
  io.out = out.data();
  io.out_dtype = out_dtype;
  const cudaError_t rc = path == Path::kGemv ? cuda::launch_quant_gemv(w.view, io, nullptr)
                                             : cuda::launch_tiled_gemm(w.view, io, nullptr);
  ASSERT_EQ(rc, cudaSuccess);
  expect_clean_emulation();
  const double out_rel = out_dtype == TSR_DTYPE_F32 ? 0.0 : 8e-3;
  int bad = 0;
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t c = 0; c < n; ++c) {
      double want = bias.get(static_cast<size_t>(c)), mag = std::fabs(want);
      for (int64_t e = 0; e < k; ++e) {
        const double term =
            w.deq[static_cast<size_t>(c * k + e)] * x.get(static_cast<size_t>(r * k + e));
        want += term;
        mag += std::fabs(term);
      }
      const double got = out.get(static_cast<size_t>(r * n + c));
      if (!(std::fabs(got - want) <= 2e-6 * mag + out_rel * std::fabs(want)) && bad++ < 5) {
        ADD_FAILURE() << "out[" << r << "," << c << "] = " << got << ", want " << want;
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST(EmulatedLinear, QuantGemv) {
  uint32_t seed = 1;
  for (int64_t m : {1, 3, 8}) {
    run(WeightKind::kInt8, Path::kGemv, m, 20, 200, 200, TSR_DTYPE_F32, TSR_DTYPE_F32, seed++);
    run(WeightKind::kInt8, Path::kGemv, m, 20, 192, 32, TSR_DTYPE_BF16, TSR_DTYPE_BF16, seed++);
    run(WeightKind::kInt8, Path::kGemv, m, 17, 200, 8, TSR_DTYPE_F16, TSR_DTYPE_F32, seed++);
    run(WeightKind::kInt4, Path::kGemv, m, 20, 192, 32, TSR_DTYPE_F32, TSR_DTYPE_F32, seed++);
    run(WeightKind::kInt4, Path::kGemv, m, 9, 208, 16, TSR_DTYPE_BF16, TSR_DTYPE_F32, seed++);
    run(WeightKind::kFp8, Path::kGemv, m, 20, 200, 200, TSR_DTYPE_F32, TSR_DTYPE_BF16, seed++);
  }
  // K over one 1024-element staging chunk.
  run(WeightKind::kInt8, Path::kGemv, 2, 16, 1100, 100, TSR_DTYPE_F32, TSR_DTYPE_F32, seed++);
  run(WeightKind::kFp8, Path::kGemv, 1, 16, 1040, 1040, TSR_DTYPE_F32, TSR_DTYPE_F32, seed++);
}

TEST(EmulatedLinear, TiledGemm) {
  uint32_t seed = 100;
  for (WeightKind kind : {WeightKind::kF32, WeightKind::kF16, WeightKind::kBF16, WeightKind::kInt8,
                          WeightKind::kInt4, WeightKind::kFp8}) {
    run(kind, Path::kTiled, 70, 20, 40, 8, TSR_DTYPE_F32, TSR_DTYPE_F32, seed++);
  }
  run(WeightKind::kInt8, Path::kTiled, 3, 65, 64, 64, TSR_DTYPE_BF16, TSR_DTYPE_BF16, seed++);
}

TEST(EmulatedLinear, GemvRejectsTooManyRows) {
  std::mt19937 rng(9);
  const Weight w = make_weight(WeightKind::kInt8, 4, 32, 32, rng);
  cuda::LinearIo io;
  io.m = cuda::kGemvMaxRows + 1;
  EXPECT_EQ(cuda::launch_quant_gemv(w.view, io, nullptr), cudaErrorInvalidValue);
}

TEST(EmulatedLinear, Fp8QuantizeEpilogueAndConvert) {
  std::mt19937 rng(3);
  for (tsr_dtype t : {TSR_DTYPE_F32, TSR_DTYPE_BF16}) {
    const int64_t count = 300;
    const Buffer x = random_buffer(t, static_cast<size_t>(count), rng, 5.0f);
    std::vector<unsigned char> q(static_cast<size_t>(count), 0);
    unsigned amax = 12345;
    float scale = 0.0f;
    ASSERT_EQ(cuda::launch_fp8_quantize(x.data(), t, count, q.data(), &amax, &scale, nullptr),
              cudaSuccess);
    expect_clean_emulation();
    float want_amax = 0.0f;
    for (int64_t i = 0; i < count; ++i) {
      want_amax = std::max(want_amax, std::fabs(x.get(static_cast<size_t>(i))));
    }
    float got_amax;
    std::memcpy(&got_amax, &amax, 4);
    EXPECT_EQ(got_amax, want_amax);
    EXPECT_EQ(scale, want_amax / 448.0f);
    const float inv = 1.0f / scale;
    for (int64_t i = 0; i < count; ++i) {
      ASSERT_EQ(q[static_cast<size_t>(i)], e4m3_encode(x.get(static_cast<size_t>(i)) * inv))
          << i << ": " << x.get(static_cast<size_t>(i));
    }
  }
  // Epilogue: out = acc * col_scale + bias, as bf16.
  const int64_t rows = 3, cols = 7;
  std::vector<float> acc(static_cast<size_t>(rows * cols)), col_scale(static_cast<size_t>(cols));
  for (auto& v : acc) v = std::normal_distribution<float>(0.0f, 4.0f)(rng);
  for (auto& v : col_scale) v = std::uniform_real_distribution<float>(0.5f, 2.0f)(rng);
  const Buffer bias = random_buffer(TSR_DTYPE_BF16, static_cast<size_t>(cols), rng);
  Buffer out(TSR_DTYPE_BF16, acc.size());
  ASSERT_EQ(cuda::launch_linear_epilogue(acc.data(), rows, cols, col_scale.data(), bias.data(),
                                         TSR_DTYPE_BF16, out.data(), TSR_DTYPE_BF16, nullptr),
            cudaSuccess);
  expect_clean_emulation();
  for (size_t i = 0; i < acc.size(); ++i) {
    const size_t c = i % static_cast<size_t>(cols);
    EXPECT_EQ(out.get(i), round_to(TSR_DTYPE_BF16, acc[i] * col_scale[c] + bias.get(c))) << i;
  }
  // Convert f32 -> f16, round to nearest even.
  Buffer f16(TSR_DTYPE_F16, acc.size());
  ASSERT_EQ(cuda::launch_convert(acc.data(), TSR_DTYPE_F32, f16.data(), TSR_DTYPE_F16,
                                 static_cast<int64_t>(acc.size()), nullptr),
            cudaSuccess);
  expect_clean_emulation();
  for (size_t i = 0; i < acc.size(); ++i) EXPECT_EQ(f16.get(i), round_to(TSR_DTYPE_F16, acc[i]));
}

}  // namespace
}  // namespace tsr::test
