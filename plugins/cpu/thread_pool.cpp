// The persistent thread pool (see thread_pool.h).
#include "thread_pool.h"

#include <immintrin.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
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

// Sleeps while *word == expected (or until a spurious wake-up; callers loop). A raw futex,
// not std::atomic::wait, whose libstdc++ version calls sched_yield in a loop first: on a
// loaded machine that hands the CPU to other processes for whole time slices.
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "a futex word must be a plain 32-bit integer");

void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}

void futex_wake_all(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
          nullptr, 0);
}

// Spins until ready() or spin_us have passed; false when it gave up. It also gives up as
// soon as this thread was preempted (a gap of more than kPreemptedMicros between two looks
// at the clock): the machine then has more runnable threads than CPUs, and spinning would
// only take the CPU from the thread we wait for, while the scheduler favours a thread that
// sleeps and is woken.
constexpr int kPreemptedMicros = 20;

template <class Ready>
bool spin_until(Ready ready, int spin_us) {
  const auto start = Clock::now();
  auto last = start;
  for (int i = 0;; ++i) {
    if (ready()) return true;
    _mm_pause();
    if ((i & 63) == 63) {
      const auto now = Clock::now();
      if (now - start > std::chrono::microseconds(spin_us) ||
          now - last > std::chrono::microseconds(kPreemptedMicros)) {
        return false;
      }
      last = now;
    }
  }
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
  futex_wake_all(generation_);
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
  uint32_t seen = generation_.load();
  for (;;) {
    // Spin briefly: the next op of a step usually comes within microseconds. Then sleep.
    // sleepers_ is raised before the futex compares generation_, and the caller bumps
    // generation_ before it reads sleepers_, so a wake-up is never lost.
    const bool arrived =
        spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; }, spin_us_);
    if (!arrived) {
      sleepers_.fetch_add(1);
      while (generation_.load() == seen) futex_wait(generation_, seen);
      sleepers_.fetch_sub(1);
    }
    const uint32_t generation = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    // While inside_ counts this worker the caller does not rewrite the job's fields; they
    // belong to `generation` if the job is open and still that generation (the caller
    // closes the job before it checks inside_, and this worker is counted before it checks
    // open_, so one of the two sees the other). Otherwise look again.
    inside_.fetch_add(1);
    const bool open = open_.load() && generation_.load() == generation;
    if (open) run_chunks();
    inside_.fetch_sub(1);
    // A job is marked seen only once this worker found it open: the caller bumps generation_
    // before it opens the job, and a worker that slept through that window would miss a job
    // that cannot finish without it (Schedule::kEveryThread). The window is a few
    // instructions, so looking again is a short spin.
    if (open) seen = generation;
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
    if (one_chunk_each_) break;
  }
  if (ran == 0) return;
  // The thread that completes the job wakes a caller that went to sleep (see try_run).
  if (done_items_.fetch_add(ran) + ran == count_) {
    job_done_.store(1);
    if (caller_sleeps_.load()) futex_wake_all(job_done_);
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
  if (schedule == Schedule::kEveryThread && count != threads()) {
    busy_.store(false, std::memory_order_release);
    throw std::logic_error("ThreadPool: an every-thread job needs one item per thread");
  }
  chunk_ = schedule == Schedule::kStatic
               ? std::max<int64_t>(1, count / (4 * static_cast<int64_t>(threads())))
               : 1;
  one_chunk_each_ = schedule == Schedule::kEveryThread;
  error_ = nullptr;
  next_item_.store(0, std::memory_order_relaxed);
  done_items_.store(0, std::memory_order_relaxed);
  job_done_.store(0, std::memory_order_relaxed);
  caller_sleeps_.store(false, std::memory_order_relaxed);
  generation_.fetch_add(1);  // seq_cst: publishes the fields; ordered before sleepers_
  open_.store(true);
  if (sleepers_.load() > 0) futex_wake_all(generation_);
  // The caller works too, and finishes the job alone if no worker turns up.
  run_chunks();
  // Wait for chunks the workers started: spin briefly (they usually end together), then
  // sleep, so that on a loaded machine a descheduled worker gets the core back. The caller
  // sets caller_sleeps_ before the futex compares job_done_, and the finishing thread sets
  // job_done_ before it reads caller_sleeps_, so the wake-up is never lost.
  const bool finished =
      spin_until([&] { return done_items_.load(std::memory_order_acquire) >= count; }, spin_us_);
  if (!finished) {
    caller_sleeps_.store(true);
    while (job_done_.load() == 0) futex_wait(job_done_, 0);
  }
  std::exception_ptr error = error_;
  busy_.store(false, std::memory_order_release);
  if (error) std::rethrow_exception(error);
  return true;
}

}  // namespace tsr::cpu
