// RoPE inverse frequencies with plugin.h's scalings (none, linear, Llama 3.1, LongRoPE), in f32 and
// in this exact order of operations, shared by the CPU plugin, the CUDA plugin's host code and the
// CUDA emulation test so rotary embeddings agree bit for bit across plugins.
#ifndef TESSERA_PLUGINS_COMMON_ROPE_FREQUENCIES_H
#define TESSERA_PLUGINS_COMMON_ROPE_FREQUENCIES_H

#include <climits>
#include <cmath>

#include "tessera/plugin.h"

namespace tsr::plugin {

// How many tables of rotary_dim / 2 frequencies rope_inverse_frequencies writes: LongRoPE's
// short and long ones (ABI 1.2), else one.
inline int rope_frequency_tables(const tsr_rope_params& p) {
  return p.scaling == TSR_ROPE_SCALING_LONGROPE ? 2 : 1;
}

// The first position that rotates with the second table (INT_MAX: none does).
inline int32_t rope_long_from_position(const tsr_rope_params& p) {
  return p.scaling == TSR_ROPE_SCALING_LONGROPE ? p.original_max_position : INT32_MAX;
}

// The multiplier of cos and sin (LongRoPE's attention factor, else 1).
inline float rope_attention_factor(const tsr_rope_params& p) {
  return p.scaling == TSR_ROPE_SCALING_LONGROPE ? p.attention_factor : 1.0f;
}

// Writes rope_frequency_tables(p) * rotary_dim / 2 frequencies to inv: the (short) table,
// then LongRoPE's long one. check_rope has validated p (LongRoPE's factors are present).
inline void rope_inverse_frequencies(const tsr_rope_params& p, float* inv) {
  const int half = p.rotary_dim / 2;
  for (int i = 0; i < half; ++i) {
    float f = std::pow(p.theta, -2.0f * static_cast<float>(i) / static_cast<float>(p.rotary_dim));
    if (p.scaling == TSR_ROPE_SCALING_LINEAR) {
      f /= p.factor;
    } else if (p.scaling == TSR_ROPE_SCALING_LLAMA3) {
      const float kTwoPi = 6.28318530717958647692f;
      const float wavelen = kTwoPi / f;
      const float omp = static_cast<float>(p.original_max_position);
      const float low = omp / p.low_freq_factor;
      const float high = omp / p.high_freq_factor;
      if (wavelen > low) {
        f = f / p.factor;
      } else if (wavelen >= high) {
        const float s =
            (omp / wavelen - p.low_freq_factor) / (p.high_freq_factor - p.low_freq_factor);
        f = (1.0f - s) * f / p.factor + s * f;
      }
    } else if (p.scaling == TSR_ROPE_SCALING_LONGROPE) {
      inv[half + i] = f / p.long_factors[i];
      f /= p.short_factors[i];
    }
    inv[i] = f;
  }
}

}  // namespace tsr::plugin

#endif  // TESSERA_PLUGINS_COMMON_ROPE_FREQUENCIES_H
