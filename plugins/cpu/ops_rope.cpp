// Rotary position embedding in place on query and (optionally) key, with the plain,
// linear, Llama 3.1 and LongRoPE (ABI 1.2) frequency scalings of plugin.h. Frequencies and angles
// are f32 as the contract says; sin/cos of the f32 angle are evaluated in double.
#include <cmath>
#include <vector>

#include "convert.h"
#include "cpu_internal.h"
#include "op_checks.h"
#include "ops.h"
#include "rope_frequencies.h"
#include "parallel.h"
#include "tensor_check.h"

namespace tsr::cpu::ops {
namespace {

// In the calling thread's scratch (no allocation per call); read by the pool's threads.
const float* inverse_frequencies(const tsr_rope_params& p) {
  float* inv = scratch_f32(7, static_cast<size_t>(rope_frequency_tables(p) * (p.rotary_dim / 2)));
  rope_inverse_frequencies(p, inv);
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
  const auto& prm = *p;
  const auto [query, positions, key, has_key, tensors] = check_rope(p, op);
  const int64_t dim = query.dim(2);
  if (!execute) return;

  const float* inv = inverse_frequencies(prm);
  const int half = prm.rotary_dim / 2;
  const int64_t tokens = query.dim(0);
  const int32_t* pos = positions.as<int32_t>();
  const bool neox = prm.neox_style != 0;
  const int32_t long_from = rope_long_from_position(prm);
  const float attention_factor = rope_attention_factor(prm);
  const int64_t work = query.numel + (has_key ? key.numel : 0);
  parallel_for(
      tokens,
      // The structured bindings by init-capture: clang before 16 cannot capture them.
      [&, &query = query, &key = key, has_key = has_key](int64_t t) {
        float* cos_v = scratch_f32(3, static_cast<size_t>(half));
        float* sin_v = scratch_f32(4, static_cast<size_t>(half));
        const float* table = pos[t] >= long_from ? inv + half : inv;
        for (int i = 0; i < half; ++i) {
          const float angle = static_cast<float>(pos[t]) * table[i];
          cos_v[i] = static_cast<float>(std::cos(static_cast<double>(angle))) * attention_factor;
          sin_v[i] = static_cast<float>(std::sin(static_cast<double>(angle))) * attention_factor;
        }
        rotate_heads(query.data + static_cast<size_t>(t * query.dim(1) * dim) * query.elem,
                     query.dtype, query.elem, query.dim(1), dim, prm.rotary_dim, neox, cos_v,
                     sin_v);
        if (has_key) {
          rotate_heads(key.data + static_cast<size_t>(t * key.dim(1) * dim) * key.elem, key.dtype,
                       key.elem, key.dim(1), dim, prm.rotary_dim, neox, cos_v, sin_v);
        }
      },
      work > kParallelGrain);
}

}  // namespace tsr::cpu::ops
