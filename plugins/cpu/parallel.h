// Threads of the CPU plugin. Our kernels run on one persistent pool (thread_pool.h) through
// parallel_for below. oneDNN (dense f32 GEMMs, the sgemm of large quantized batches) still
// runs on OpenMP, the runtime Debian's oneDNN was built with; OpenMP's thread count is a
// per-thread setting, so every entry point calls bind_threads() to apply the configured
// count (host option cpu.num_threads, default all cores) to the calling host thread. The two
// never run at the same time: each returns before the next op starts.
#ifndef TESSERA_PLUGINS_CPU_PARALLEL_H
#define TESSERA_PLUGINS_CPU_PARALLEL_H

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "thread_pool.h"

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

// The pool (created on first use with the configured thread count; recreated when the count
// changes). Host option cpu.pin_threads=0 leaves its workers unpinned.
ThreadPool& thread_pool();

// Runs body(i) for every i in [0, count) on the pool, or inline on the calling thread when
// `parallel` is false, when the count is 1, on a pool worker (nested) or when the pool is
// busy with another host thread's job.
template <class Body>
void parallel_for(int64_t count, Body&& body, bool parallel = true,
                  Schedule schedule = Schedule::kStatic) {
  if (count <= 0) return;
  auto range = [&body](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body(i);
  };
  if (parallel && count > 1 && !ThreadPool::on_worker()) {
    ThreadPool& pool = thread_pool();
    if (pool.threads() > 1) {
      using Range = decltype(range);
      const RangeBody erased = [](void* context, int64_t begin, int64_t end) {
        (*static_cast<Range*>(context))(begin, end);
      };
      if (pool.try_run(count, schedule, erased, &range)) return;
    }
  }
  range(0, count);
}

// Runs body() once on the calling thread and once on every pool worker. Returns false, having
// run it on the calling thread only, when the pool is busy with another host thread's job or
// this is a worker (callers retry later). For sizing per-thread scratch up front.
template <class Body>
bool run_on_every_thread(Body&& body) {
  auto range = [&body](int64_t, int64_t) { body(); };
  if (ThreadPool::on_worker()) {
    body();
    return false;
  }
  ThreadPool& pool = thread_pool();
  if (pool.threads() > 1) {
    using Range = decltype(range);
    const RangeBody erased = [](void* context, int64_t begin, int64_t end) {
      (*static_cast<Range*>(context))(begin, end);
    };
    if (pool.try_run(pool.threads(), Schedule::kEveryThread, erased, &range)) return true;
    body();
    return false;
  }
  body();
  return true;
}

// Minimum amount of work (elements touched) before a loop goes parallel.
constexpr int64_t kParallelGrain = 1 << 14;

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_PARALLEL_H
