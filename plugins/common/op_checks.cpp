// Shared op validation (see op_checks.h).
#include "op_checks.h"

#include <cmath>

#include "tessera/plugin.hpp"

namespace tsr::plugin {

EmbeddingViews check_embedding(const tsr_embedding_params* p, const char* op) {
  const auto& prm = params(p, op);
  EmbeddingViews v{view(prm.ids, op, "ids"), view(prm.table, op, "table"),
                   view(prm.out, op, "out")};
  require_dtype(v.ids, TSR_DTYPE_I32, op, "ids");
  require_ndim(v.ids, 1, op, "ids");
  require_ndim(v.table, 2, op, "table");
  require_ndim(v.out, 2, op, "out");
  require_dtype(v.out, v.table.dtype, op, "out");
  require_dim(v.out, 0, v.ids.dim(0), op, "out");
  require_dim(v.out, 1, v.table.dim(1), op, "out");
  require_no_overlap(v.out, v.table, op, "out", "table");
  require_no_overlap(v.out, v.ids, op, "out", "ids");
  return v;
}

RmsNormViews check_rms_norm(const tsr_rms_norm_params* p, const char* op) {
  const auto& prm = params(p, op);
  RmsNormViews v;
  v.x = view(prm.x, op, "x");
  v.weight = view(prm.weight, op, "weight");
  v.out = view(prm.out, op, "out");
  require_activation(v.x, op, "x");
  require_dtype(v.out, v.x.dtype, op, "out");
  require_same_shape(v.x, v.out, op, "x", "out");
  require_ndim(v.weight, 1, op, "weight");
  require_dim(v.weight, 0, v.x.cols(), op, "weight");
  TSR_PLUGIN_CHECK_ARG(v.weight.dtype == v.x.dtype || v.weight.dtype == TSR_DTYPE_F32,
                       "%s: weight: dtype must be x's or f32", op);
  TSR_PLUGIN_CHECK_ARG(std::isfinite(prm.eps) && prm.eps >= 0.0f, "%s: eps must be finite and >= 0",
                       op);
  require_no_overlap(v.out, v.x, op, "out", "x");
  v.fused = present(prm.residual);
  if (v.fused) {
    v.residual = view(prm.residual, op, "residual");
    require_dtype(v.residual, v.x.dtype, op, "residual");
    require_same_shape(v.x, v.residual, op, "x", "residual");
    require_no_overlap(v.residual, v.x, op, "residual", "x");
    require_no_overlap(v.residual, v.out, op, "residual", "out");
  }
  return v;
}

RopeViews check_rope(const tsr_rope_params* p, const char* op) {
  const auto& prm = params(p, op);
  RopeViews v;
  v.query = view(prm.query, op, "query");
  v.positions = view(prm.positions, op, "positions");
  require_activation(v.query, op, "query");
  require_ndim(v.query, 3, op, "query");
  require_dtype(v.positions, TSR_DTYPE_I32, op, "positions");
  require_ndim(v.positions, 1, op, "positions");
  require_dim(v.positions, 0, v.query.dim(0), op, "positions");
  const int64_t dim = v.query.dim(2);
  v.has_key = present(prm.key);
  if (v.has_key) {
    v.key = view(prm.key, op, "key");
    require_dtype(v.key, v.query.dtype, op, "key");
    require_ndim(v.key, 3, op, "key");
    require_dim(v.key, 0, v.query.dim(0), op, "key");
    require_dim(v.key, 2, dim, op, "key");
    require_no_overlap(v.key, v.query, op, "key", "query");
  }
  TSR_PLUGIN_CHECK_ARG(prm.rotary_dim > 0 && prm.rotary_dim % 2 == 0 && prm.rotary_dim <= dim,
                       "%s: rotary_dim %d must be even and in (0, head_dim %lld]", op,
                       prm.rotary_dim, static_cast<long long>(dim));
  TSR_PLUGIN_CHECK_ARG(std::isfinite(prm.theta) && prm.theta > 0.0f, "%s: theta must be positive",
                       op);
  TSR_PLUGIN_CHECK_ARG(
      prm.scaling == TSR_ROPE_SCALING_NONE || prm.scaling == TSR_ROPE_SCALING_LINEAR ||
          prm.scaling == TSR_ROPE_SCALING_LLAMA3,
      "%s: scaling %d is not a tsr_rope_scaling", op, static_cast<int>(prm.scaling));
  if (prm.scaling != TSR_ROPE_SCALING_NONE) {
    TSR_PLUGIN_CHECK_ARG(std::isfinite(prm.factor) && prm.factor > 0.0f,
                         "%s: factor must be positive for scaled rope", op);
  }
  if (prm.scaling == TSR_ROPE_SCALING_LLAMA3) {
    TSR_PLUGIN_CHECK_ARG(prm.low_freq_factor > 0.0f && prm.high_freq_factor > 0.0f &&
                             prm.high_freq_factor != prm.low_freq_factor,
                         "%s: low_freq_factor and high_freq_factor must be positive and differ",
                         op);
    TSR_PLUGIN_CHECK_ARG(prm.original_max_position > 0,
                         "%s: original_max_position must be positive", op);
  }
  return v;
}

}  // namespace tsr::plugin
