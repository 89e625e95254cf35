#include "weight_desc_check.h"

#include <cstddef>

#include "tensor_check.h"
#include "tessera/plugin.hpp"

namespace tsr::plugin {

bool weight_format_known(tsr_weight_format f) {
  return f >= TSR_WEIGHT_FORMAT_F32 && f <= TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM;
}

bool weight_format_asym(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM || f == TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM;
}

bool weight_format_grouped(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_INT8_GROUP || f == TSR_WEIGHT_FORMAT_INT4_GROUP ||
         weight_format_asym(f);
}

bool weight_format_int4(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_INT4_GROUP || f == TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM;
}

bool weight_format_quantized(tsr_weight_format f) {
  return f == TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL || f == TSR_WEIGHT_FORMAT_FP8_E4M3 ||
         weight_format_grouped(f);
}

void check_weight_desc(const tsr_weight_desc* d, const char* op) {
  // A host of ABI 1.0 passes the descriptor without `mins`; only the asym formats need it.
  check_params_size(d, d != nullptr ? d->struct_size : 0, offsetof(tsr_weight_desc, mins), op);
  const int64_t format = raw_enum_value(d->format);
  TSR_PLUGIN_CHECK_ARG(
      format >= TSR_WEIGHT_FORMAT_F32 && format <= TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM,
      "%s: format %lld is not a tsr_weight_format", op, static_cast<long long>(format));
  TSR_PLUGIN_CHECK_ARG(d->rows > 0 && d->rows < (int64_t{1} << 31), "%s: rows %lld out of range",
                       op, static_cast<long long>(d->rows));
  TSR_PLUGIN_CHECK_ARG(d->cols > 0 && d->cols < (int64_t{1} << 31), "%s: cols %lld out of range",
                       op, static_cast<long long>(d->cols));
  TSR_PLUGIN_CHECK_ARG(d->data != nullptr, "%s: data is NULL", op);
  TSR_PLUGIN_CHECK_ARG(is_activation_dtype(d->compute_dtype),
                       "%s: compute_dtype %s is not f32, bf16 or f16", op,
                       sdk::dtype_name(d->compute_dtype));
  if (!weight_format_quantized(d->format)) return;
  TSR_PLUGIN_CHECK_ARG(d->scales != nullptr, "%s: scales is NULL for a quantized format", op);
  if (weight_format_asym(d->format)) {
    TSR_PLUGIN_CHECK_ARG(TSR_STRUCT_HAS(d, tsr_weight_desc, mins) && d->mins != nullptr,
                         "%s: mins is NULL or absent (an ABI 1.0 descriptor): format %d needs "
                         "scales and mins",
                         op, static_cast<int>(d->format));
  }
  if (weight_format_grouped(d->format)) {
    TSR_PLUGIN_CHECK_ARG(d->group_size > 0 && d->cols % d->group_size == 0,
                         "%s: group_size %lld must be positive and divide cols %lld", op,
                         static_cast<long long>(d->group_size), static_cast<long long>(d->cols));
  }
  if (weight_format_int4(d->format)) {
    TSR_PLUGIN_CHECK_ARG(d->cols % 2 == 0, "%s: cols %lld must be even for a 4-bit format", op,
                         static_cast<long long>(d->cols));
  }
}

}  // namespace tsr::plugin
