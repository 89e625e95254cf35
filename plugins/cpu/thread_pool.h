// The CPU plugin's one persistent thread pool, which every kernel of ours runs on.
//
// Why not OpenMP's team: libgomp forks and joins a team per `parallel for`, and a decode
// step of a small model runs hundreds of short ops, so futex wake-ups and barriers between
// ops cost a large part of the step (issue 17). This pool keeps its workers alive: after a
// job a worker spins for a short while (spin_us, default 100 us) waiting for the next one,
// the common case inside a step, then sleeps on a futex, so an idle engine burns no CPU.
// A thread that finds itself preempted while spinning (more runnable threads than CPUs)
// stops spinning at once and sleeps: there, spinning only delays the thread it waits for.
//
// Work is claimed, not assigned: the caller and the workers take chunks of the job's items
// from a shared counter, and the caller returns as soon as every item is done. A worker
// that is asleep, or descheduled on a loaded machine, when a job starts does not hold the
// job up: the caller does its share. The caller only ever waits for chunks a worker has
// already started (and, before the next job's fields are written, for a worker that is
// between reading the job and claiming from it, a window of a few instructions).
//
// Placement: workers are pinned one per CPU of the process's affinity mask, skipping the
// first CPU (left to the caller, whose thread we do not own and do not pin), when there are
// at least as many CPUs as threads, unless the host option cpu.pin_threads=0. NUMA
// placement is not done: the pool assumes one node.
//
// Concurrency: one job at a time. A caller that finds the pool busy (another host thread,
// e.g. a tensor-parallel rank, is running a job) or that is itself a pool worker (a
// nested loop) runs its loop inline on its own thread, so nothing waits on anything that
// could wait on it.
#ifndef TESSERA_PLUGINS_CPU_THREAD_POOL_H
#define TESSERA_PLUGINS_CPU_THREAD_POOL_H

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace tsr::cpu {

// A loop body over [begin, end), type-erased so the pool is not a template.
using RangeBody = void (*)(void* context, int64_t begin, int64_t end);

enum class Schedule {
  kStatic,   // contiguous chunks of about count / (4 x threads) items (even work)
  kDynamic,  // single items (uneven work, e.g. attention rows of different lengths)
  // count == threads(): the caller and every worker run exactly one item each (to size
  // per-thread scratch on all of them, so a thread's first turn at an op allocates nothing).
  kEveryThread,
};

class ThreadPool {
 public:
  static constexpr int kDefaultSpinMicros = 100;

  // threads: total, including the caller (>= 1). pin: pin workers to CPUs. spin_us: how
  // long a worker spins for the next job, and the caller for the workers, before sleeping.
  ThreadPool(int threads, bool pin, int spin_us = kDefaultSpinMicros);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  bool pinned() const { return pinned_; }
  // The workers' kernel thread ids (for tests and diagnostics: placement, idle CPU time).
  std::vector<int> worker_tids() const { return tids_; }

  // Runs body over [0, count) on the pool and the calling thread; returns when all of it
  // ran. Returns false, having run nothing, when the pool is busy with another caller's
  // job. An exception thrown by the body is rethrown here (the first one; the rest of the
  // job still runs).
  bool try_run(int64_t count, Schedule schedule, RangeBody body, void* context);

  // True on a pool worker thread (nested loops run inline there).
  static bool on_worker();

 private:
  void worker_main(int index, int cpu);
  // Claims and runs chunks of the current job until none is left.
  void run_chunks();
  void wait_for_workers_outside();

  std::vector<std::thread> workers_;
  std::vector<int> tids_;
  int spin_us_ = kDefaultSpinMicros;
  std::atomic<int> started_{0};
  bool pinned_ = false;

  // The current job: written by the caller only while no worker is inside_ a job.
  RangeBody body_ = nullptr;
  void* context_ = nullptr;
  int64_t count_ = 0;
  int64_t chunk_ = 1;
  bool one_chunk_each_ = false;  // Schedule::kEveryThread
  std::exception_ptr error_;
  std::mutex error_mutex_;
  std::atomic<int64_t> next_item_{0};
  std::atomic<int64_t> done_items_{0};

  std::atomic<bool> busy_{false};
  std::atomic<uint32_t> generation_{0};  // a futex word: bumped per job (wraps harmlessly)
  std::atomic<uint32_t> job_done_{0};    // a futex word: 1 once every item of the job ran
  std::atomic<bool> open_{false};        // the job's fields are published and may be read
  std::atomic<int> inside_{0};           // workers between reading the job and leaving it
  std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_sleeps_{false};
  std::atomic<bool> stop_{false};
};

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_THREAD_POOL_H
