// Thread-count configuration and per-thread scratch (see parallel.h).
#include "parallel.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
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
  if (const char* text = host().option("cpu.num_threads")) {
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (end != text && *end == '\0' && value > 0 && value <= 4096) {
      threads = static_cast<int>(value);
    } else {
      host().warn(std::string("cpu.num_threads='") + text +
                  "' is not a positive integer; using all " + std::to_string(threads) + " cores");
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

float* scratch_f32(int slot, size_t count) {
  constexpr int kSlots = 6;
  thread_local std::vector<float> slots[kSlots];
  if (slot < 0 || slot >= kSlots) {
    throw tsr::sdk::Error(TSR_ERROR_CODE_INTERNAL, "scratch slot out of range");
  }
  std::vector<float>& v = slots[slot];
  if (v.size() < count) v.resize(count);
  return v.data();
}

}  // namespace tsr::cpu
