// INT4_GROUP_ASYM linear (see linear_asym.h): prepacking, the generic integer GEMV, the float
// GEMV and the dequantize-tile + sgemm path.
#include "linear_asym.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "cpu_internal.h"
#include "isa.h"
#include "kernels.h"
#include "parallel.h"
#include "tiled_sgemm.h"

namespace tsr::cpu {
namespace {

constexpr int64_t kBlock = 32;  // activation quantization block = prepacked nibble block
// M at and above which the dequantize-tile + sgemm path is taken. Below it the integer GEMV
// serves every row: each weight row is loaded once and stays in L1 across the activation rows,
// while the tile path dequantizes the whole weight to f32 on every call, which made batch-8
// decode of SmolLM2 (Q4_1) half as fast as batch 1. Only prefill-sized batches repay that.
// tests/cpu_plugin/linear_asym_test.cpp mirrors this value.
constexpr int64_t kAsymGemmMinRows = 32;

AsymDotQ8 active_dot_q8() {
  AsymDotQ8 dot = nullptr;
  if (active_isa() == Isa::kAvx512) dot = asym_dot_q8_avx512();
  if (dot == nullptr && active_isa() != Isa::kGeneric) dot = asym_dot_q8_avx2();
  return dot != nullptr ? dot : &asym_dot_q8_generic;
}

}  // namespace

bool q8_activations_enabled() {
  const char* value = host().option("cpu.q8_activations");
  return value == nullptr || std::string(value) != "0";
}

bool quantize_q8_row(const float* x, int64_t k, int64_t group, int8_t* xq, float* xs,
                     float* group_sums) {
  for (int64_t b = 0; b < k / kBlock; ++b) {
    const float* v = x + b * kBlock;
    float absmax = 0.0f;
    for (int64_t j = 0; j < kBlock; ++j) {
      if (!std::isfinite(v[j])) return false;
      absmax = std::max(absmax, std::fabs(v[j]));
    }
    const float inv = absmax > 0.0f ? 127.0f / absmax : 0.0f;
    for (int64_t j = 0; j < kBlock; ++j) {
      xq[b * kBlock + j] = static_cast<int8_t>(std::lrintf(v[j] * inv));
    }
    xs[b] = absmax / 127.0f;
  }
  for (int64_t g = 0; g < k / group; ++g) {
    float sum = 0.0f;
    for (int64_t j = g * group; j < (g + 1) * group; ++j) sum += x[j];
    group_sums[g] = sum;
  }
  return true;
}

float asym_dot_q8_generic(const int8_t* xq, const float* xs, const uint8_t* q, const float* scales,
                          int64_t group, int64_t k) {
  float acc = 0.0f;
  for (int64_t b = 0; b < k / kBlock; ++b) {
    const uint8_t* bytes = q + b * (kBlock / 2);
    const int8_t* xb = xq + b * kBlock;
    int32_t sum = 0;
    for (int j = 0; j < 16; ++j) {
      sum += (bytes[j] & 0x0f) * xb[j] + (bytes[j] >> 4) * xb[j + 16];
    }
    acc += scales[b * kBlock / group] * xs[b] * static_cast<float>(sum);
  }
  return acc;
}

std::unique_ptr<AsymInt4Weight> AsymInt4Weight::create(const tsr_weight_desc& desc) {
  auto w = std::make_unique<AsymInt4Weight>();
  w->n_ = desc.rows;
  w->k_ = desc.cols;
  w->group_ = desc.group_size;
  w->split_nibbles_ = desc.cols % kBlock == 0;
  const size_t row_bytes = static_cast<size_t>(desc.cols / 2);
  const auto* src = static_cast<const uint8_t*>(desc.data);
  w->data_.resize(row_bytes * static_cast<size_t>(desc.rows));
  if (w->split_nibbles_) {
    // Canonical byte i holds elements 2i (low) and 2i + 1 (high); per block of 32 the packed
    // byte j holds elements j (low) and j + 16 (high).
    for (size_t block = 0; block < w->data_.size() / 16; ++block) {
      const uint8_t* in = src + block * 16;
      uint8_t* out = w->data_.data() + block * 16;
      auto element = [in](int e) { return e % 2 == 0 ? in[e / 2] & 0x0f : in[e / 2] >> 4; };
      for (int j = 0; j < 16; ++j) {
        out[j] = static_cast<uint8_t>(element(j) | (element(j + 16) << 4));
      }
    }
  } else {
    std::memcpy(w->data_.data(), src, w->data_.size());
  }
  const size_t groups = static_cast<size_t>(desc.rows * (desc.cols / desc.group_size));
  w->scales_.assign(desc.scales, desc.scales + groups);
  w->mins_.assign(desc.mins, desc.mins + groups);
  return w;
}

uint64_t AsymInt4Weight::bytes() const {
  return data_.size() + (scales_.size() + mins_.size()) * sizeof(float);
}

void AsymInt4Weight::dequant_row(int64_t row, float* out) const {
  const uint8_t* q = data_.data() + row * (k_ / 2);
  const float* scales = scales_.data() + row * (k_ / group_);
  const float* mins = mins_.data() + row * (k_ / group_);
  for (int64_t j = 0; j < k_; ++j) {
    int u;
    if (split_nibbles_) {
      const int64_t in_block = j % kBlock;
      const uint8_t byte = q[j / kBlock * 16 + in_block % 16];
      u = in_block < 16 ? byte & 0x0f : byte >> 4;
    } else {
      u = j % 2 == 0 ? q[j / 2] & 0x0f : q[j / 2] >> 4;
    }
    out[j] = static_cast<float>(u) * scales[j / group_] + mins[j / group_];
  }
}

void AsymInt4Weight::run(const float* x, int64_t m, float* out) const {
  if (m == 0) return;
  const int64_t n = n_;
  const int64_t k = k_;
  const int64_t groups = k / group_;
  if (m < kAsymGemmMinRows) {
    bool integer = split_nibbles_ && group_ % kBlock == 0 && q8_activations_enabled();
    const int64_t blocks = k / kBlock;
    thread_local std::vector<int8_t> xq;
    thread_local std::vector<float> xs;
    thread_local std::vector<float> group_sums;
    if (integer) {
      xq.resize(static_cast<size_t>(m * k));
      xs.resize(static_cast<size_t>(m * blocks));
      group_sums.resize(static_cast<size_t>(m * groups));
      for (int64_t i = 0; i < m && integer; ++i) {
        integer = quantize_q8_row(x + i * k, k, group_, xq.data() + i * k, xs.data() + i * blocks,
                                  group_sums.data() + i * groups);
      }
    }
    const AsymDotQ8 dot_q8 = active_dot_q8();
    // The calling thread's buffers, shared read-only with the team.
    const int8_t* xq_all = xq.data();
    const float* xs_all = xs.data();
    const float* sums_all = group_sums.data();
    parallel_for(n, [&](int64_t row) {
      const float* scales = scales_.data() + row * groups;
      const float* mins = mins_.data() + row * groups;
      if (integer) {
        const uint8_t* q = data_.data() + row * (k / 2);
        for (int64_t i = 0; i < m; ++i) {
          const float* sums = sums_all + i * groups;
          float min_part = 0.0f;
          for (int64_t g = 0; g < groups; ++g) min_part += mins[g] * sums[g];
          out[i * n + row] =
              dot_q8(xq_all + i * k, xs_all + i * blocks, q, scales, group_, k) + min_part;
        }
        return;
      }
      float* w = scratch_f32(0, static_cast<size_t>(k));
      dequant_row(row, w);
      for (int64_t i = 0; i < m; ++i) out[i * n + row] = kernels().dot(x + i * k, w, k);
    });
    return;
  }
  const WidenRows widen = [](const void* weight, int64_t row0, int64_t rows, float* tile) {
    const auto* self = static_cast<const AsymInt4Weight*>(weight);
    for (int64_t r = 0; r < rows; ++r) self->dequant_row(row0 + r, tile + r * self->k_);
  };
  tiled_sgemm(x, m, n, k, out, widen, this);
}

}  // namespace tsr::cpu
