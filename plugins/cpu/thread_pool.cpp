// The persistent thread pool (see thread_pool.h).
#include "thread_pool.h"

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace tsr::cpu {
namespace {

using Clock = std::chrono::steady_clock;

thread_local bool t_on_worker = false;

// CPUs this process may run on, in order.
std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

bool pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

}  // namespace

ThreadPool::ThreadPool(int threads, bool pin, int spin_us) : spin_us_(std::max(spin_us, 0)) {
  const int workers = threads > 1 ? threads - 1 : 0;
  const std::vector<int> cpus = pin ? allowed_cpus() : std::vector<int>{};
  // Pinning needs a CPU of its own for each worker beside the caller's; with fewer CPUs
  // than threads the scheduler places them better than a fixed map could.
  pinned_ = pin && workers > 0 && static_cast<int>(cpus.size()) >= threads;
  workers_.reserve(static_cast<size_t>(workers));
  tids_.resize(static_cast<size_t>(workers));
  for (int w = 0; w < workers; ++w) {
    const int cpu = pinned_ ? cpus[static_cast<size_t>(w + 1)] : -1;
    workers_.emplace_back([this, w, cpu] { worker_main(w, cpu); });
  }
  // Every worker has pinned itself and published its tid before the pool is used.
  while (started_.load(std::memory_order_acquire) < workers) std::this_thread::yield();
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& worker : workers_) worker.join();
}

bool ThreadPool::on_worker() {
  return t_on_worker;
}

void ThreadPool::worker_main(int index, int cpu) {
  t_on_worker = true;
  if (cpu >= 0) pin_to(cpu);
  tids_[static_cast<size_t>(index)] = static_cast<int>(gettid());
  started_.fetch_add(1, std::memory_order_release);
  uint64_t seen = generation_.load();
  for (;;) {
    // Spin briefly: the next op of a step usually comes within microseconds.
    const auto spin_end = Clock::now() + std::chrono::microseconds(spin_us_);
    uint64_t generation = generation_.load(std::memory_order_acquire);
    for (int i = 0; generation == seen; ++i) {
      _mm_pause();
      if ((i & 63) == 63 && Clock::now() > spin_end) {
        // Then sleep. sleepers_ is raised before the wait compares generation_, and the
        // caller bumps generation_ before it reads sleepers_, so a wake-up is never lost.
        sleepers_.fetch_add(1);
        generation_.wait(seen);
        sleepers_.fetch_sub(1);
      }
      generation = generation_.load(std::memory_order_acquire);
    }
    if (stop_.load()) return;
    seen = generation;
    // While inside_ counts this worker the caller does not rewrite the job's fields; they
    // belong to `generation` if the job is open and still that generation (the caller
    // closes the job before it checks inside_, and this worker is counted before it checks
    // open_, so one of the two sees the other). Otherwise look again.
    inside_.fetch_add(1);
    if (open_.load() && generation_.load() == generation) run_chunks();
    inside_.fetch_sub(1);
  }
}

void ThreadPool::run_chunks() {
  int64_t ran = 0;
  for (;;) {
    const int64_t begin = next_item_.fetch_add(chunk_, std::memory_order_relaxed);
    if (begin >= count_) break;
    const int64_t end = std::min(count_, begin + chunk_);
    try {
      body_(context_, begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
    ran += end - begin;
  }
  if (ran == 0) return;
  // The thread that completes the job wakes a caller that went to sleep (see try_run).
  if (done_items_.fetch_add(ran) + ran == count_ && caller_sleeps_.load()) {
    done_items_.notify_one();
  }
}

void ThreadPool::wait_for_workers_outside() {
  for (int i = 0; inside_.load() != 0; ++i) {
    if (i < 1024) {
      _mm_pause();
    } else {
      std::this_thread::yield();
    }
  }
}

bool ThreadPool::try_run(int64_t count, Schedule schedule, RangeBody body, void* context) {
  if (busy_.exchange(true, std::memory_order_acquire)) return false;
  // A worker may still be leaving the previous job; its fields must not change under it.
  open_.store(false);
  wait_for_workers_outside();
  body_ = body;
  context_ = context;
  count_ = count;
  chunk_ = schedule == Schedule::kDynamic
               ? 1
               : std::max<int64_t>(1, count / (4 * static_cast<int64_t>(threads())));
  error_ = nullptr;
  next_item_.store(0, std::memory_order_relaxed);
  done_items_.store(0, std::memory_order_relaxed);
  caller_sleeps_.store(false, std::memory_order_relaxed);
  generation_.fetch_add(1);  // seq_cst: publishes the fields; ordered before sleepers_
  open_.store(true);
  if (sleepers_.load() > 0) generation_.notify_all();
  // The caller works too, and finishes the job alone if no worker turns up.
  run_chunks();
  // Wait for chunks the workers started: spin briefly (they usually end together), then
  // sleep, so that on a loaded machine a descheduled worker gets the core back. The caller
  // sets caller_sleeps_ before its last look at done_items_, and the finishing worker adds
  // to done_items_ before it reads caller_sleeps_, so the wake-up is never lost.
  const auto spin_end = Clock::now() + std::chrono::microseconds(spin_us_);
  for (int i = 0; done_items_.load(std::memory_order_acquire) < count; ++i) {
    _mm_pause();
    if ((i & 63) == 63 && Clock::now() > spin_end) {
      caller_sleeps_.store(true);
      for (int64_t done = done_items_.load(); done < count; done = done_items_.load()) {
        done_items_.wait(done);
      }
    }
  }
  std::exception_ptr error = error_;
  busy_.store(false, std::memory_order_release);
  if (error) std::rethrow_exception(error);
  return true;
}

}  // namespace tsr::cpu
