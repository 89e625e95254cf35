// Row conversions between activation dtypes (f32, bf16, f16) and f32 through the active
// kernel set; ops compute in f32 and convert at their edges.
#ifndef TESSERA_PLUGINS_CPU_CONVERT_H
#define TESSERA_PLUGINS_CPU_CONVERT_H

#include <cstdint>

#include "tessera/plugin.h"

namespace tsr::cpu {

// dst[0..n) = f32(src[0..n)), src of `dtype` (f32, bf16 or f16).
void load_f32(const void* src, tsr_dtype dtype, float* dst, int64_t n);
// dst[0..n) of `dtype` = src[0..n) rounded to nearest even.
void store_f32(const float* src, tsr_dtype dtype, void* dst, int64_t n);
// src itself when it is f32, else its conversion in thread-local scratch `slot`.
const float* as_f32(const void* src, tsr_dtype dtype, int64_t n, int slot);

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_CONVERT_H
