// The host half of weight_prepack (see weight_layout.h): validation, layout, row packing.
#include "weight_layout.h"

#include <cstring>

#include "tensor_check.h"
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

bool is_int4(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_INT4_GROUP || f == TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM;
}

bool is_grouped(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_INT8_GROUP || f == TSR_WEIGHT_FORMAT_INT4_GROUP || is_asym(f);
}

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
  return f >= TSR_WEIGHT_FORMAT_F32 && f <= TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM;
}

bool is_asym(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM || f == TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM;
}

bool is_quantized(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL || f == TSR_WEIGHT_FORMAT_INT8_GROUP ||
         f == TSR_WEIGHT_FORMAT_INT4_GROUP || f == TSR_WEIGHT_FORMAT_FP8_E4M3 || is_asym(f);
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
  // A host of ABI 1.0 passes the descriptor without `mins`; only the asym formats need it.
  plugin::check_params_size(d, d != nullptr ? d->struct_size : 0, offsetof(tsr_weight_desc, mins),
                            kOp);
  TSR_PLUGIN_CHECK_ARG(is_known_format(d->format), "%s: format %d is not a tsr_weight_format", kOp,
                       static_cast<int>(d->format));
  TSR_PLUGIN_CHECK_ARG(d->rows > 0 && d->rows < (int64_t{1} << 31), "%s: rows %lld out of range",
                       kOp, static_cast<long long>(d->rows));
  TSR_PLUGIN_CHECK_ARG(d->cols > 0 && d->cols < (int64_t{1} << 31), "%s: cols %lld out of range",
                       kOp, static_cast<long long>(d->cols));
  TSR_PLUGIN_CHECK_ARG(d->data != nullptr, "%s: data is NULL", kOp);
  TSR_PLUGIN_CHECK_ARG(plugin::is_activation_dtype(d->compute_dtype),
                       "%s: compute_dtype %s is not f32, bf16 or f16", kOp,
                       sdk::dtype_name(d->compute_dtype));
  if (!is_quantized(d->format)) return;
  TSR_PLUGIN_CHECK_ARG(d->scales != nullptr, "%s: scales is NULL for a quantized format", kOp);
  if (is_asym(d->format)) {
    TSR_PLUGIN_CHECK_ARG(TSR_STRUCT_HAS(d, tsr_weight_desc, mins) && d->mins != nullptr,
                         "%s: mins is NULL or absent (an ABI 1.0 descriptor): format %d needs "
                         "scales and mins",
                         kOp, static_cast<int>(d->format));
  }
  if (is_grouped(d->format)) {
    TSR_PLUGIN_CHECK_ARG(d->group_size > 0 && d->cols % d->group_size == 0,
                         "%s: group_size %lld must be positive and divide cols %lld", kOp,
                         static_cast<long long>(d->group_size), static_cast<long long>(d->cols));
  }
  if (is_int4(d->format)) {
    TSR_PLUGIN_CHECK_ARG(d->cols % 2 == 0, "%s: cols %lld must be even for a 4-bit format", kOp,
                         static_cast<long long>(d->cols));
  }
}

WeightLayout plan_weight_layout(const tsr_weight_desc& d, tsr_dtype dense) {
  WeightLayout l;
  WeightView& v = l.view;
  v.n = d.rows;
  v.k = d.cols;
  const bool quantized = is_quantized(d.format);
  v.group = is_grouped(d.format) ? d.group_size : d.cols;
  v.groups = quantized ? d.cols / v.group : 0;
  if (quantized) {
    v.ld = round_up(is_int4(d.format) ? d.cols / 2 : d.cols, 16);
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
  const size_t row_bytes = static_cast<size_t>(is_int4(d.format) ? d.cols / 2 : d.cols);
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
