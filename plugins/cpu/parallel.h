// The plugin's one thread pool is OpenMP's, the runtime Debian's oneDNN was built with
// (dnnl_version()->cpu_runtime == DNNL_RUNTIME_OMP), so oneDNN's GEMMs and our loops share
// libgomp's worker team instead of oversubscribing the cores with two pools.
// OpenMP's thread count is a per-thread setting, so every entry point calls
// bind_threads() to apply the configured count (host option cpu.num_threads, default all
// cores) to the calling host thread.
#ifndef TESSERA_PLUGINS_CPU_PARALLEL_H
#define TESSERA_PLUGINS_CPU_PARALLEL_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tsr::cpu {

// Reads cpu.num_threads (validated; falls back to all cores with a warning).
void configure_threads();
int configured_threads();
// Applies the configured thread count to the calling thread (cheap after the first call).
void bind_threads();

// Thread-local scratch space that grows but never shrinks, so hot loops allocate nothing
// after warm-up. Each slot is an independent array; valid until the next call with the
// same slot on the same thread.
float* scratch_f32(int slot, size_t count);

// Minimum amount of work (elements touched) before a loop goes parallel.
constexpr int64_t kParallelGrain = 1 << 14;

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_PARALLEL_H
