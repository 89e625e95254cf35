// Thread-count configuration and per-thread scratch (see parallel.h).
#include "parallel.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cpu_internal.h"

namespace tsr::cpu {
namespace {
std::atomic<int> g_threads{0};

int all_cores() {
  const int procs = omp_get_num_procs();
  return procs > 0 ? procs : static_cast<int>(std::thread::hardware_concurrency());
}
}  // namespace

void configure_threads() {
  int threads = all_cores();
  // OpenMP's own variable, as the documented fallback (docs/environment.md).
  if (const char* env = std::getenv("OMP_NUM_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long value = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && value > 0 && value <= 4096) threads = static_cast<int>(value);
  }
  if (const char* text = host().option("cpu.num_threads")) {
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (end != text && *end == '\0' && value > 0 && value <= 4096) {
      threads = static_cast<int>(value);
    } else {
      host().warn(std::string("cpu.num_threads='") + text + "' is not a positive integer; using " +
                  std::to_string(threads) + " threads");
    }
  }
  g_threads.store(threads < 1 ? 1 : threads);
}

int configured_threads() {
  const int threads = g_threads.load();
  return threads > 0 ? threads : all_cores();
}

void bind_threads() {
  thread_local int applied = -1;
  const int threads = configured_threads();
  if (applied != threads) {
    omp_set_num_threads(threads);
    applied = threads;
  }
}

ThreadPool& thread_pool() {
  static std::mutex mutex;
  static std::unique_ptr<ThreadPool> pool;
  // Fast path: the pool exists with the configured size (threads() is immutable).
  static std::atomic<ThreadPool*> current{nullptr};
  ThreadPool* existing = current.load(std::memory_order_acquire);
  const int threads = configured_threads();
  if (existing != nullptr && existing->threads() == threads) return *existing;
  std::lock_guard<std::mutex> lock(mutex);
  if (!pool || pool->threads() != threads) {
    const char* pin = host().option("cpu.pin_threads");
    if (pin != nullptr && std::string(pin) != "0" && std::string(pin) != "1") {
      host().warn(std::string("cpu.pin_threads='") + pin + "' is not 0 or 1; pinning the workers");
    }
    // A pool being replaced may still be running a job for another thread only if the
    // thread count changed mid-run (re-initialize while ops run), which the ABI forbids.
    int spin_us = ThreadPool::kDefaultSpinMicros;
    if (const char* text = host().option("cpu.spin_us")) {
      char* end = nullptr;
      const long value = std::strtol(text, &end, 10);
      if (end != text && *end == '\0' && value >= 0 && value <= 1000000) {
        spin_us = static_cast<int>(value);
      } else {
        host().warn(std::string("cpu.spin_us='") + text + "' is not an integer in [0, 1000000]");
      }
    }
    pool =
        std::make_unique<ThreadPool>(threads, pin == nullptr || std::string(pin) != "0", spin_us);
    current.store(pool.get(), std::memory_order_release);
  }
  return *pool;
}

float* scratch_f32(int slot, size_t count) {
  constexpr int kSlots = 8;
  thread_local std::vector<float> slots[kSlots];
  if (slot < 0 || slot >= kSlots) {
    throw tsr::sdk::Error(TSR_ERROR_CODE_INTERNAL, "scratch slot out of range");
  }
  std::vector<float>& v = slots[slot];
  if (v.size() < count) v.resize(count);
  return v.data();
}

}  // namespace tsr::cpu
