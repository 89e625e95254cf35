// out = x · W^T for weights that oneDNN cannot multiply directly (quantized, 16-bit): W's
// rows are widened to f32 a tile at a time and each tile is multiplied by oneDNN's sgemm.
// The tiles are spread over the plugin's thread pool and each sgemm runs single-threaded on
// the thread that widened its tile (OpenMP's team size is set to 1 around the call), so the
// tile stays in that core's cache and libgomp's team is never woken for it: one pool, no
// fork/join per tile.
#ifndef TESSERA_PLUGINS_CPU_TILED_SGEMM_H
#define TESSERA_PLUGINS_CPU_TILED_SGEMM_H

#include <cstdint>

namespace tsr::cpu {

// Writes rows [row0, row0 + rows) of W as f32 into tile ([rows][k], row-major).
using WidenRows = void (*)(const void* weight, int64_t row0, int64_t rows, float* tile);

// out [m][n] = x [m][k] · W^T, W [n][k] given by widen(weight, ...).
void tiled_sgemm(const float* x, int64_t m, int64_t n, int64_t k, float* out, WidenRows widen,
                 const void* weight);

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_TILED_SGEMM_H
