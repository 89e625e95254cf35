// Rotary position embedding in place on query and (optionally) key, with the plain,
// linear and Llama 3.1 frequency scalings of plugin.h. Frequencies and angles are f32 as
// the contract says; sin/cos of the f32 angle are evaluated in double.
#include <cmath>
#include <vector>

#include "convert.h"
#include "cpu_internal.h"
#include "ops.h"
#include "rope_frequencies.h"
#include "parallel.h"
#include "tensor_check.h"

namespace tsr::cpu::ops {
namespace {

std::vector<float> inverse_frequencies(const tsr_rope_params& p) {
  std::vector<float> inv(static_cast<size_t>(p.rotary_dim / 2));
  rope_inverse_frequencies(p, inv.data());
  return inv;
}

void rotate_heads(unsigned char* base, tsr_dtype dtype, size_t elem, int64_t heads, int64_t dim,
                  int rotary_dim, bool neox, const float* cos_v, const float* sin_v) {
  const int half = rotary_dim / 2;
  for (int64_t h = 0; h < heads; ++h) {
    unsigned char* ptr = base + static_cast<size_t>(h * dim) * elem;
    float* v = scratch_f32(0, static_cast<size_t>(rotary_dim));
    load_f32(ptr, dtype, v, rotary_dim);
    for (int i = 0; i < half; ++i) {
      const int ia = neox ? i : 2 * i;
      const int ib = neox ? i + half : 2 * i + 1;
      const float a = v[ia];
      const float b = v[ib];
      v[ia] = a * cos_v[i] - b * sin_v[i];
      v[ib] = b * cos_v[i] + a * sin_v[i];
    }
    store_f32(v, dtype, ptr, rotary_dim);
  }
}

}  // namespace

void rope(const tsr_rope_params* p, bool execute) {
  constexpr const char* op = "rope";
  const auto& prm = params(p, op);
  const View query = view(prm.query, op, "query");
  const View positions = view(prm.positions, op, "positions");
  require_activation(query, op, "query");
  require_ndim(query, 3, op, "query");
  require_dtype(positions, TSR_DTYPE_I32, op, "positions");
  require_ndim(positions, 1, op, "positions");
  require_dim(positions, 0, query.dim(0), op, "positions");
  const int64_t dim = query.dim(2);
  View key;
  const bool has_key = present(prm.key);
  if (has_key) {
    key = view(prm.key, op, "key");
    require_dtype(key, query.dtype, op, "key");
    require_ndim(key, 3, op, "key");
    require_dim(key, 0, query.dim(0), op, "key");
    require_dim(key, 2, dim, op, "key");
    require_no_overlap(key, query, op, "key", "query");
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
  if (!execute) return;

  const std::vector<float> inv = inverse_frequencies(prm);
  const int half = prm.rotary_dim / 2;
  const int64_t tokens = query.dim(0);
  const int32_t* pos = positions.as<int32_t>();
  const bool neox = prm.neox_style != 0;
  const int64_t work = query.numel + (has_key ? key.numel : 0);
#pragma omp parallel for schedule(static) if (work > kParallelGrain)
  for (int64_t t = 0; t < tokens; ++t) {
    float* cos_v = scratch_f32(3, static_cast<size_t>(half));
    float* sin_v = scratch_f32(4, static_cast<size_t>(half));
    for (int i = 0; i < half; ++i) {
      const float angle = static_cast<float>(pos[t]) * inv[static_cast<size_t>(i)];
      cos_v[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sin_v[i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
    rotate_heads(query.data + static_cast<size_t>(t * query.dim(1) * dim) * query.elem, query.dtype,
                 query.elem, query.dim(1), dim, prm.rotary_dim, neox, cos_v, sin_v);
    if (has_key) {
      rotate_heads(key.data + static_cast<size_t>(t * key.dim(1) * dim) * key.elem, key.dtype,
                   key.elem, key.dim(1), dim, prm.rotary_dim, neox, cos_v, sin_v);
    }
  }
}

}  // namespace tsr::cpu::ops
