// The host half of weight_prepack (see weight_layout.h): validation, layout, row packing.
#include "weight_layout.h"

#include <cstring>

#include "tensor_check.h"
#include "weight_desc_check.h"
#include "tessera/plugin.hpp"

namespace tsr::cuda {
namespace {

constexpr const char* kOp = "weight_prepack";

int64_t round_up(int64_t v, int64_t to) {
  return (v + to - 1) / to * to;
}

size_t round_up_256(size_t v) {
  return (v + 255) / 256 * 256;
}

using plugin::weight_format_grouped;
using plugin::weight_format_int4;

void store(float v, tsr_dtype type, unsigned char* dst) {
  if (type == TSR_DTYPE_F32) {
    std::memcpy(dst, &v, 4);
    return;
  }
  const uint16_t bits = type == TSR_DTYPE_F16 ? sdk::f32_to_f16(v) : sdk::f32_to_bf16(v);
  std::memcpy(dst, &bits, 2);
}

WeightKind kind_of(tsr_weight_format f, tsr_dtype dense) {
  switch (f) {
    case TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL:
    case TSR_WEIGHT_FORMAT_INT8_GROUP:
      return WeightKind::kInt8;
    case TSR_WEIGHT_FORMAT_INT4_GROUP:
      return WeightKind::kInt4;
    case TSR_WEIGHT_FORMAT_FP8_E4M3:
      return WeightKind::kFp8;
    case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM:
      return WeightKind::kInt4Asym;
    case TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM:
      return WeightKind::kInt8Asym;
    default:
      return dense == TSR_DTYPE_F32   ? WeightKind::kF32
             : dense == TSR_DTYPE_F16 ? WeightKind::kF16
                                      : WeightKind::kBF16;
  }
}

}  // namespace

bool is_known_format(tsr_weight_format f) {
  return plugin::weight_format_known(f);
}

bool is_asym(tsr_weight_format f) {
  return plugin::weight_format_asym(f);
}

bool is_quantized(tsr_weight_format f) {
  return plugin::weight_format_quantized(f);
}

tsr_dtype dense_source_dtype(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_F32   ? TSR_DTYPE_F32
         : f == TSR_WEIGHT_FORMAT_F16 ? TSR_DTYPE_F16
                                      : TSR_DTYPE_BF16;
}

float load_dense(const void* base, tsr_dtype type, size_t i) {
  const auto* bytes = static_cast<const unsigned char*>(base);
  if (type == TSR_DTYPE_F32) {
    float v;
    std::memcpy(&v, bytes + i * 4, 4);
    return v;
  }
  uint16_t v;
  std::memcpy(&v, bytes + i * 2, 2);
  return type == TSR_DTYPE_F16 ? sdk::f16_to_f32(v) : sdk::bf16_to_f32(v);
}

void check_weight_desc(const tsr_weight_desc* d) {
  plugin::check_weight_desc(d, kOp);
}

WeightLayout plan_weight_layout(const tsr_weight_desc& d, tsr_dtype dense) {
  WeightLayout l;
  WeightView& v = l.view;
  v.n = d.rows;
  v.k = d.cols;
  const bool quantized = is_quantized(d.format);
  v.group = weight_format_grouped(d.format) ? d.group_size : d.cols;
  v.groups = quantized ? d.cols / v.group : 0;
  if (quantized) {
    v.ld = round_up(weight_format_int4(d.format) ? d.cols / 2 : d.cols, 16);
  } else {
    v.ld = d.cols * static_cast<int64_t>(sdk::dtype_size(dense));
  }
  v.kind = kind_of(d.format, dense);
  l.data_bytes = static_cast<size_t>(v.n) * static_cast<size_t>(v.ld);
  l.scales_bytes = static_cast<size_t>(v.n) * static_cast<size_t>(v.groups) * sizeof(float);
  l.mins_bytes = is_asym(d.format) ? l.scales_bytes : 0;
  l.scales_offset = round_up_256(l.data_bytes);
  l.mins_offset = round_up_256(l.scales_offset + l.scales_bytes);
  l.total_bytes = l.mins_bytes > 0     ? l.mins_offset + l.mins_bytes
                  : l.scales_bytes > 0 ? l.scales_offset + l.scales_bytes
                                       : l.data_bytes;
  return l;
}

void pack_weight_rows(const tsr_weight_desc& d, const WeightLayout& layout, tsr_dtype dense,
                      int64_t r0, int64_t count, unsigned char* dst) {
  const WeightView& v = layout.view;
  const auto* src = static_cast<const unsigned char*>(d.data);
  const size_t ld = static_cast<size_t>(v.ld);
  if (!is_quantized(d.format)) {
    const tsr_dtype from = dense_source_dtype(d.format);
    const size_t k = static_cast<size_t>(v.k);
    const size_t first = static_cast<size_t>(r0) * k;
    if (from == dense) {
      std::memcpy(dst, src + first * sdk::dtype_size(from), static_cast<size_t>(count) * ld);
      return;
    }
    const size_t elem = sdk::dtype_size(dense);
    const size_t total = static_cast<size_t>(count) * k;
    for (size_t i = 0; i < total; ++i)
      store(load_dense(src, from, first + i), dense, dst + i * elem);
    return;
  }
  const size_t row_bytes = static_cast<size_t>(weight_format_int4(d.format) ? d.cols / 2 : d.cols);
  // Zero in each symmetric encoding: int8 0, e4m3 +0, two int4 nibbles of 8 (u - 8 = 0). The
  // asym codes have no zero (u = 0 is the group's min); their padding is code 0 and the
  // kernels give it zero activations (linear_quant.cu).
  const unsigned char pad = d.format == TSR_WEIGHT_FORMAT_INT4_GROUP ? 0x88 : 0x00;
  for (int64_t r = 0; r < count; ++r) {
    unsigned char* row = dst + static_cast<size_t>(r) * ld;
    std::memcpy(row, src + static_cast<size_t>(r0 + r) * row_bytes, row_bytes);
    std::memset(row + row_bytes, pad, ld - row_bytes);
  }
}

void bind_weight_view(const WeightLayout& layout, const unsigned char* base, WeightView* view) {
  *view = layout.view;
  view->data = base;
  view->scales = layout.scales_bytes > 0
                     ? reinterpret_cast<const float*>(base + layout.scales_offset)
                     : nullptr;
  view->mins =
      layout.mins_bytes > 0 ? reinterpret_cast<const float*>(base + layout.mins_offset) : nullptr;
}

}  // namespace tsr::cuda
