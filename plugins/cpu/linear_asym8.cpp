// INT8_GROUP_ASYM linear (see linear_asym8.h): prepacking (5-bit or uint8 rows), the generic
// integer kernels, the kernel choice, the float GEMV and the dequantize-tile + sgemm path.
#include "linear_asym8.h"

#include <algorithm>
#include <cstring>

#include "cpu_internal.h"
#include "isa.h"
#include "kernels.h"
#include "linear_asym.h"
#include "parallel.h"
#include "tiled_sgemm.h"

namespace tsr::cpu {
namespace {

constexpr int64_t kBlock = 32;  // activation quantization block = 5-bit layout block

// Elements 0..31 of block b of a 5-bit row (nibble plane, then high-bit plane).
void unpack_5bit_block(const uint8_t* row, int64_t k, int64_t b, uint8_t* u) {
  const uint8_t* nibbles = row + b * 16;
  uint32_t high;
  std::memcpy(&high, row + k / 2 + b * 4, 4);
  for (int j = 0; j < 16; ++j) {
    u[j] = static_cast<uint8_t>((nibbles[j] & 0x0f) | (((high >> j) & 1) << 4));
    u[j + 16] = static_cast<uint8_t>((nibbles[j] >> 4) | (((high >> (j + 16)) & 1) << 4));
  }
}

void dot_rows_generic(const int8_t* xq, const float* xs, int64_t rows, const uint8_t* q,
                      const float* scales, int64_t group, int64_t k, float* out, bool five_bit) {
  const int64_t blocks = k / kBlock;
  for (int64_t i = 0; i < rows; ++i) out[i] = 0.0f;
  uint8_t unpacked[kBlock];
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* u = q + b * kBlock;
    if (five_bit) {
      unpack_5bit_block(q, k, b, unpacked);
      u = unpacked;
    }
    const float scale = scales[b * kBlock / group];
    for (int64_t i = 0; i < rows; ++i) {
      const int8_t* xb = xq + i * k + b * kBlock;
      int32_t sum = 0;
      for (int j = 0; j < kBlock; ++j) sum += u[j] * xb[j];
      out[i] += scale * xs[i * blocks + b] * static_cast<float>(sum);
    }
  }
}

void dot_5bit_generic(const int8_t* xq, const float* xs, int64_t rows, const uint8_t* q,
                      const float* scales, int64_t group, int64_t k, float* out) {
  dot_rows_generic(xq, xs, rows, q, scales, group, k, out, true);
}

void dot_uint8_generic(const int8_t* xq, const float* xs, int64_t rows, const uint8_t* q,
                       const float* scales, int64_t group, int64_t k, float* out) {
  dot_rows_generic(xq, xs, rows, q, scales, group, k, out, false);
}

}  // namespace

const Asym8Kernels* asym8_kernels_generic() {
  static const Asym8Kernels table = {"generic", dot_5bit_generic, dot_uint8_generic};
  return &table;
}

const Asym8Kernels& active_asym8_kernels() {
  const Asym8Kernels* set = nullptr;
  if (active_isa() == Isa::kAvx512) set = asym8_kernels_avx512_vnni();
  if (set == nullptr && active_isa() != Isa::kGeneric) set = asym8_kernels_avx2();
  return set != nullptr ? *set : *asym8_kernels_generic();
}

std::unique_ptr<AsymInt8Weight> AsymInt8Weight::create(const tsr_weight_desc& desc) {
  auto w = std::make_unique<AsymInt8Weight>();
  w->n_ = desc.rows;
  w->k_ = desc.cols;
  w->group_ = desc.group_size;
  const auto* src = static_cast<const uint8_t*>(desc.data);
  const size_t count = static_cast<size_t>(desc.rows) * static_cast<size_t>(desc.cols);
  w->five_bit_ = desc.cols % kBlock == 0 && desc.group_size % kBlock == 0 &&
                 std::all_of(src, src + count, [](uint8_t u) { return u < 32; });
  if (w->five_bit_) {
    const int64_t k = desc.cols;
    w->row_bytes_ = static_cast<size_t>(k / 2 + k / 8);
    w->data_.assign(w->row_bytes_ * static_cast<size_t>(desc.rows), 0);
    for (int64_t r = 0; r < desc.rows; ++r) {
      const uint8_t* in = src + r * k;
      uint8_t* nibbles = w->data_.data() + static_cast<size_t>(r) * w->row_bytes_;
      uint8_t* high_plane = nibbles + k / 2;
      for (int64_t b = 0; b < k / kBlock; ++b) {
        const uint8_t* u = in + b * kBlock;
        uint32_t high = 0;
        for (int j = 0; j < 16; ++j) {
          nibbles[b * 16 + j] = static_cast<uint8_t>((u[j] & 0x0f) | ((u[j + 16] & 0x0f) << 4));
        }
        for (int j = 0; j < kBlock; ++j) high |= static_cast<uint32_t>(u[j] >> 4) << j;
        std::memcpy(high_plane + b * 4, &high, 4);
      }
    }
  } else {
    w->row_bytes_ = static_cast<size_t>(desc.cols);
    w->data_.assign(src, src + count);
  }
  const size_t groups = static_cast<size_t>(desc.rows * (desc.cols / desc.group_size));
  w->scales_.assign(desc.scales, desc.scales + groups);
  w->mins_.assign(desc.mins, desc.mins + groups);
  return w;
}

uint64_t AsymInt8Weight::bytes() const {
  return data_.size() + (scales_.size() + mins_.size()) * sizeof(float);
}

void AsymInt8Weight::dequant_row(int64_t row, float* out) const {
  const uint8_t* q = data_.data() + static_cast<size_t>(row) * row_bytes_;
  const float* scales = scales_.data() + row * (k_ / group_);
  const float* mins = mins_.data() + row * (k_ / group_);
  uint8_t unpacked[kBlock];
  for (int64_t j = 0; j < k_; ++j) {
    int u;
    if (five_bit_) {
      if (j % kBlock == 0) unpack_5bit_block(q, k_, j / kBlock, unpacked);
      u = unpacked[j % kBlock];
    } else {
      u = q[j];
    }
    out[j] = static_cast<float>(u) * scales[j / group_] + mins[j / group_];
  }
}

void AsymInt8Weight::run(const float* x, int64_t m, float* out) const {
  if (m == 0) return;
  const int64_t n = n_;
  const int64_t k = k_;
  const int64_t groups = k / group_;
  if (m < kAsym8GemmMinRows) {
    bool integer = k % kBlock == 0 && group_ % kBlock == 0 && q8_activations_enabled();
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
    const Asym8Kernels& kern = active_asym8_kernels();
    const Asym8Dot dot = five_bit_ ? kern.dot_5bit : kern.dot_uint8;
    // The calling thread's buffers, shared read-only with the team.
    const int8_t* xq_all = xq.data();
    const float* xs_all = xs.data();
    const float* sums_all = group_sums.data();
    parallel_for(n, [&](int64_t row) {
      const float* scales = scales_.data() + row * groups;
      const float* mins = mins_.data() + row * groups;
      if (integer) {
        const uint8_t* q = data_.data() + static_cast<size_t>(row) * row_bytes_;
        float dots[kAsym8MaxRows];
        for (int64_t i0 = 0; i0 < m; i0 += kAsym8MaxRows) {
          const int64_t rows = std::min(kAsym8MaxRows, m - i0);
          dot(xq_all + i0 * k, xs_all + i0 * blocks, rows, q, scales, group_, k, dots);
          for (int64_t i = i0; i < i0 + rows; ++i) {
            const float* sums = sums_all + i * groups;
            float min_part = 0.0f;
            for (int64_t g = 0; g < groups; ++g) min_part += mins[g] * sums[g];
            out[i * n + row] = dots[i - i0] + min_part;
          }
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
    const auto* self = static_cast<const AsymInt8Weight*>(weight);
    for (int64_t r = 0; r < rows; ++r) self->dequant_row(row0 + r, tile + r * self->k_);
  };
  tiled_sgemm(x, m, n, k, out, widen, this);
}

}  // namespace tsr::cpu
