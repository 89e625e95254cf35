// Tile-parallel sgemm (see tiled_sgemm.h).
#include "tiled_sgemm.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <algorithm>

#include "cpu_internal.h"
#include "parallel.h"

namespace tsr::cpu {

void tiled_sgemm(const float* x, int64_t m, int64_t n, int64_t k, float* out, WidenRows widen,
                 const void* weight) {
  // 128 rows of f32 at K = 2048 is 1 MiB: L2-sized. Smaller tiles when there are too few to
  // keep every thread busy (a 576-row weight would otherwise split 3:2 over 2 threads).
  const int64_t threads = thread_pool().threads();
  int64_t tile_rows = 128;
  while (tile_rows > 16 && (n + tile_rows - 1) / tile_rows < 4 * threads) tile_rows /= 2;
  const int64_t tiles = (n + tile_rows - 1) / tile_rows;
  parallel_for(tiles, [&](int64_t t) {
    const int64_t row0 = t * tile_rows;
    const int64_t rows = std::min(tile_rows, n - row0);
    float* tile = scratch_f32(6, static_cast<size_t>(rows * k));
    widen(weight, row0, rows, tile);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const dnnl_status_t status =
        dnnl_sgemm('N', 'T', m, rows, k, 1.0f, x, k, tile, k, 0.0f, out + row0, n);
    omp_set_num_threads(saved);
    TSR_PLUGIN_CHECK(status == dnnl_success, TSR_ERROR_CODE_INTERNAL,
                     "linear: oneDNN sgemm failed with status %d", static_cast<int>(status));
  });
}

}  // namespace tsr::cpu
