// Quantized linear kernels (see linear_quant.h).
#include "linear_quant.h"

#include <oneapi/dnnl/dnnl.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "cpu_internal.h"
#include "kernels.h"
#include "parallel.h"

namespace tsr::cpu {
namespace {

// M at and above which the dequantize-tile + sgemm path wins over per-row GEMV.
constexpr int64_t kGemmMinRows = 8;
// Weight rows dequantized per sgemm call.
constexpr int64_t kTileRows = 128;

const std::array<float, 256>& fp8_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i)
      t[static_cast<size_t>(i)] = tsr::sdk::fp8_e4m3_to_f32(static_cast<uint8_t>(i));
    return t;
  }();
  return table;
}

// cpu.q8_activations=0 keeps activations in f32 on every path (exact dequantized-weight
// results, about twice slower decode for int4).
bool q8_activations() {
  const char* value = host().option("cpu.q8_activations");
  return value == nullptr || std::string(value) != "0";
}

}  // namespace

std::unique_ptr<QuantWeight> QuantWeight::create(const tsr_weight_desc& desc) {
  auto w = std::make_unique<QuantWeight>();
  w->format_ = desc.format;
  w->n_ = desc.rows;
  w->k_ = desc.cols;
  const bool grouped =
      desc.format == TSR_WEIGHT_FORMAT_INT8_GROUP || desc.format == TSR_WEIGHT_FORMAT_INT4_GROUP;
  w->group_ = grouped ? desc.group_size : desc.cols;
  const size_t row_bytes = desc.format == TSR_WEIGHT_FORMAT_INT4_GROUP
                               ? static_cast<size_t>(desc.cols / 2)
                               : static_cast<size_t>(desc.cols);
  w->data_.resize(row_bytes * static_cast<size_t>(desc.rows));
  std::memcpy(w->data_.data(), desc.data, w->data_.size());
  const size_t groups_per_row = static_cast<size_t>(desc.cols / w->group_);
  w->scales_.resize(groups_per_row * static_cast<size_t>(desc.rows));
  std::memcpy(w->scales_.data(), desc.scales, w->scales_.size() * sizeof(float));
  if (desc.format == TSR_WEIGHT_FORMAT_FP8_E4M3) fp8_table();
  return w;
}

uint64_t QuantWeight::bytes() const {
  return data_.size() + scales_.size() * sizeof(float);
}

void QuantWeight::dequant_row(int64_t row, float* out) const {
  const Kernels& kern = kernels();
  const float* scales = scales_.data() + row * (k_ / group_);
  switch (format_) {
    case TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL:
    case TSR_WEIGHT_FORMAT_INT8_GROUP:
      kern.dequant_i8(reinterpret_cast<const int8_t*>(data_.data()) + row * k_, scales, group_, k_,
                      out);
      return;
    case TSR_WEIGHT_FORMAT_INT4_GROUP:
      kern.dequant_i4(data_.data() + row * (k_ / 2), scales, group_, k_, out);
      return;
    case TSR_WEIGHT_FORMAT_FP8_E4M3: {
      const std::array<float, 256>& table = fp8_table();
      const uint8_t* q = data_.data() + row * k_;
      const float s = scales[0];
      for (int64_t j = 0; j < k_; ++j) out[j] = table[q[j]] * s;
      return;
    }
    default:
      return;
  }
}

void QuantWeight::run(const float* x, int64_t m, float* out) const {
  if (m == 0) return;
  const int64_t n = n_;
  const int64_t k = k_;
  if (m < kGemmMinRows) {
    const bool int4 = format_ == TSR_WEIGHT_FORMAT_INT4_GROUP;
    const bool fused = int4 || format_ == TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL ||
                       format_ == TSR_WEIGHT_FORMAT_INT8_GROUP;
    const int64_t groups = k / group_;
    const size_t row_bytes = static_cast<size_t>(int4 ? k / 2 : k);
    // Integer dot products need whole activation blocks inside each weight group, and finite
    // activations (quantize_q8 refuses others, and the float path then carries them).
    bool integer = fused && group_ % kQ8Block == 0 && k % kQ8Block == 0 && q8_activations();
    const int64_t blocks = k / kQ8Block;
    thread_local std::vector<int8_t> xq;
    thread_local std::vector<float> xs;
    thread_local std::vector<int32_t> xsum;
    if (integer) {
      xq.resize(static_cast<size_t>(m * k));
      xs.resize(static_cast<size_t>(m * blocks));
      xsum.resize(static_cast<size_t>(m * blocks));
      for (int64_t i = 0; i < m && integer; ++i) {
        integer = quantize_q8(x + i * k, k, xq.data() + i * k, xs.data() + i * blocks,
                              xsum.data() + i * blocks);
      }
    }
    // The calling thread's buffers, shared read-only with the team.
    const int8_t* xq_all = xq.data();
    const float* xs_all = xs.data();
    const int32_t* xsum_all = xsum.data();
#pragma omp parallel for schedule(static)
    for (int64_t row = 0; row < n; ++row) {
      const Kernels& kern = kernels();
      const uint8_t* q = data_.data() + static_cast<size_t>(row) * row_bytes;
      const float* s = scales_.data() + row * groups;
      if (fused) {
        for (int64_t i = 0; i < m; ++i) {
          float& y = out[i * n + row];
          if (integer && int4) {
            y = kern.dot_i4_q8(xq_all + i * k, xs_all + i * blocks, xsum_all + i * blocks, q, s,
                               group_, k);
          } else if (integer) {
            y = kern.dot_i8_q8(xq_all + i * k, xs_all + i * blocks,
                               reinterpret_cast<const int8_t*>(q), s, group_, k);
          } else if (int4) {
            y = kern.dot_i4(x + i * k, q, s, group_, k);
          } else {
            y = kern.dot_i8(x + i * k, reinterpret_cast<const int8_t*>(q), s, group_, k);
          }
        }
        continue;
      }
      float* w = scratch_f32(0, static_cast<size_t>(k));
      dequant_row(row, w);
      for (int64_t i = 0; i < m; ++i) out[i * n + row] = kern.dot(x + i * k, w, k);
    }
    return;
  }
  float* tile = scratch_f32(2, static_cast<size_t>(kTileRows * k));
  for (int64_t n0 = 0; n0 < n; n0 += kTileRows) {
    const int64_t rows = n - n0 < kTileRows ? n - n0 : kTileRows;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) dequant_row(n0 + r, tile + r * k);
    const dnnl_status_t status =
        dnnl_sgemm('N', 'T', m, rows, k, 1.0f, x, k, tile, k, 0.0f, out + n0, n);
    TSR_PLUGIN_CHECK(status == dnnl_success, TSR_ERROR_CODE_INTERNAL,
                     "linear: oneDNN sgemm failed with status %d", static_cast<int>(status));
  }
}

}  // namespace tsr::cpu
