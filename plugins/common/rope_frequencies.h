// RoPE inverse frequencies with plugin.h's scalings (none, linear, Llama 3.1), in f32 and in
// this exact order of operations, shared by the CPU plugin, the CUDA plugin's host code and
// the CUDA emulation test so rotary embeddings agree bit for bit across plugins.
#ifndef TESSERA_PLUGINS_COMMON_ROPE_FREQUENCIES_H
#define TESSERA_PLUGINS_COMMON_ROPE_FREQUENCIES_H

#include <cmath>

#include "tessera/plugin.h"

namespace tsr::plugin {

// Writes rotary_dim / 2 frequencies to inv.
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
    }
    inv[i] = f;
  }
}

}  // namespace tsr::plugin

#endif  // TESSERA_PLUGINS_COMMON_ROPE_FREQUENCIES_H
