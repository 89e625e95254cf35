// The generic kernel set: portable C++ for any x86-64 (baseline SSE2 through the compiler's
// auto-vectorisation), and the holder of the active kernel table. Also the reference the
// ISA-specific sets are tested against.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "kernels.h"
#include "tessera/plugin.hpp"

namespace tsr::cpu {
namespace {

float dot(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void scale(float alpha, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= alpha;
}

float sum_squares(const float* x, int64_t n) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += x[i] * x[i];
  return acc;
}

void mul_scaled(const float* x, const float* w, float s, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * s * w[i];
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void gelu_tanh_mul(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float u = kGeluTanhScale * (g + kGeluTanhCubic * g * g * g);
    // 0.5 g (1 + tanh u) = g / (1 + exp(-2u)): the same value without the cancellation of
    // 1 + tanh(u) near -1, which loses all relative precision for negative gates (g < -5).
    out[i] = g / (1.0f + std::exp(-2.0f * u)) * up[i];
  }
}

void add(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void bf16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = tsr::sdk::bf16_to_f32(src[i]);
}

void f32_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = tsr::sdk::f32_to_bf16(src[i]);
}

void f16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = tsr::sdk::f16_to_f32(src[i]);
}

void f32_to_f16(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = tsr::sdk::f32_to_f16(src[i]);
}

void dequant_i8(const int8_t* q, const float* scales, int64_t group, int64_t k, float* out) {
  for (int64_t j = 0; j < k; ++j) out[j] = static_cast<float>(q[j]) * scales[j / group];
}

void dequant_i4(const uint8_t* q, const float* scales, int64_t group, int64_t k, float* out) {
  for (int64_t j = 0; j < k; ++j) {
    const uint8_t byte = q[j / 2];
    const int u = (j % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
    out[j] = static_cast<float>(u - 8) * scales[j / group];
  }
}

float dot_i8(const float* x, const int8_t* q, const float* scales, int64_t group, int64_t k) {
  float total = 0.0f;
  for (int64_t g0 = 0; g0 < k; g0 += group) {
    const int64_t end = g0 + group < k ? g0 + group : k;
    float acc = 0.0f;
    for (int64_t j = g0; j < end; ++j) acc += x[j] * static_cast<float>(q[j]);
    total += acc * scales[g0 / group];
  }
  return total;
}

float dot_i4(const float* x, const uint8_t* q, const float* scales, int64_t group, int64_t k) {
  float total = 0.0f;
  for (int64_t g0 = 0; g0 < k; g0 += group) {
    const int64_t end = g0 + group < k ? g0 + group : k;
    float acc = 0.0f;
    for (int64_t j = g0; j < end; ++j) {
      const uint8_t byte = q[j / 2];
      const int u = (j % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
      acc += x[j] * static_cast<float>(u - 8);
    }
    total += acc * scales[g0 / group];
  }
  return total;
}

void scaled_dots(const float* q, const float* keys, int64_t n, int64_t dim, float scale,
                 float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = scale * dot(q, keys + i * dim, dim);
}

float exp_shifted_sum(float* s, int64_t n, float shift) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    s[i] = std::exp(s[i] - shift);
    if (s[i] < std::numeric_limits<float>::min()) s[i] = 0.0f;  // subnormal (kernels.h)
    sum += s[i];
  }
  return sum;
}

void weighted_rows(const float* p, const float* rows, int64_t n, int64_t dim, float* acc) {
  for (int64_t i = 0; i < n; ++i) axpy(p[i], rows + i * dim, acc, dim);
}

void transposed_scores(const float* q, int64_t rows, int64_t dim, const float* kt, float scale,
                       float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    float acc[16] = {};
    for (int64_t d = 0; d < dim; ++d) {
      const float v = q[r * dim + d];
      for (int i = 0; i < 16; ++i) acc[i] += v * kt[d * 16 + i];
    }
    for (int i = 0; i < 16; ++i) out[r * 16 + i] = scale * acc[i];
  }
}

const Kernels kGeneric = {"generic",     dot,           axpy,
                          scale,         sum_squares,   mul_scaled,
                          silu_mul,      add,           bf16_to_f32,
                          f32_to_bf16,   f16_to_f32,    f32_to_f16,
                          dequant_i8,    dequant_i4,    dot_i8,
                          dot_i4,        scaled_dots,   exp_shifted_sum,
                          weighted_rows, gelu_tanh_mul, transposed_scores};

std::atomic<const Kernels*> g_active{&kGeneric};

}  // namespace

bool quantize_q8(const float* x, int64_t k, int8_t* xq, float* xs, int32_t* xsum) {
  for (int64_t b = 0; b < k / kQ8Block; ++b) {
    const float* v = x + b * kQ8Block;
    float absmax = 0.0f;
    for (int64_t j = 0; j < kQ8Block; ++j) {
      if (!std::isfinite(v[j])) return false;
      absmax = std::max(absmax, std::fabs(v[j]));
    }
    const float scale = absmax / 127.0f;
    const float inv = absmax > 0.0f ? 127.0f / absmax : 0.0f;
    int32_t sum = 0;
    for (int64_t j = 0; j < kQ8Block; ++j) {
      const auto q = static_cast<int8_t>(std::lrintf(v[j] * inv));
      xq[b * kQ8Block + j] = q;
      sum += q;
    }
    xs[b] = scale;
    xsum[b] = sum;
  }
  return true;
}

const Kernels& kernels_generic() {
  return kGeneric;
}

const Kernels& kernels() {
  return *g_active.load(std::memory_order_acquire);
}

void set_active_kernels(const Kernels* set) {
  g_active.store(set != nullptr ? set : &kGeneric, std::memory_order_release);
}

}  // namespace tsr::cpu
