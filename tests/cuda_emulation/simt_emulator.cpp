// The SIMT emulator's scheduler (see simt_emulator.h): GPU threads as fibers on the calling
// host thread, switched with Boost.Context (its fcontext switch saves a few registers; ucontext
// would also save the signal mask with a system call per switch), plus the CUDA runtime calls
// the launch functions make. OS threads were tried first: with 1024-thread CTAs on two cores
// every barrier became ~1000 futex wake-ups and the sampling test took minutes.
#include "simt_emulator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <boost/context/fiber.hpp>
#include <cstdio>
#include <map>
#include <stdexcept>

// Bounds of the tsr_emu_shared section, defined by the linker; weak so a binary without any
// static __shared__ variable still links (both are then null).
extern "C" unsigned char __start_tsr_emu_shared[] __attribute__((weak));
extern "C" unsigned char __stop_tsr_emu_shared[] __attribute__((weak));

namespace tsr::emu {
namespace {

namespace context = boost::context;

constexpr unsigned kMaxThreads = 1024;
constexpr size_t kStackBytes = size_t{128} << 10;
constexpr size_t kDefaultSharedLimit = 48 * 1024;
constexpr size_t kOptInSharedLimit = 99 * 1024;  // sm_89, the smallest of 80/89/90

// Fiber stacks come from one mapping with guard pages (allocate_stacks); Boost.Context gets
// them as preallocated stacks and must not free them.
struct KeepStack {
  context::stack_context allocate() { return {}; }
  void deallocate(context::stack_context&) noexcept {}
};

struct Fiber {
  context::fiber ctx;  // where the GPU thread resumes; empty once it returned
  uint3 idx{};
  bool done = false;
};

struct Warp {
  uint64_t gen = 0;
  unsigned arrived = 0;
  unsigned live = 0;
  unsigned participants[2] = {0, 0};
  uint64_t value[2][32] = {};
};

struct Cta {
  const std::function<void()>* body = nullptr;
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  unsigned n = 0;
  unsigned current = 0;
  unsigned live = 0;
  unsigned exited = 0;
  unsigned block_arrived = 0;
  uint64_t block_gen = 0;
  uint64_t progress = 0;
  context::fiber main;  // the scheduler, while a GPU thread runs
  std::string where;
};

Cta g_cta;
unsigned char* g_stacks = nullptr;
std::vector<unsigned char> g_dynamic_shared;
std::vector<std::string> g_errors;
cudaError_t g_last_error = cudaSuccess;
std::map<const void*, int> g_max_dynamic_shared;
Stats g_stats;
bool g_error_this_launch = false;

void error(const std::string& what) {
  // One report per launch: a misuse inside a loop would otherwise repeat per thread.
  if (g_error_this_launch) return;
  g_error_this_launch = true;
  g_errors.push_back(what + " (" + g_cta.where + ", thread " + std::to_string(g_cta.current) + ")");
}

void allocate_stacks() {
  if (g_stacks != nullptr) return;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* p = mmap(nullptr, kStackBytes * kMaxThreads, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("simt emulator: cannot map fiber stacks");
  g_stacks = static_cast<unsigned char*>(p);
  // A guard page under each stack turns an overflow into a fault, not silent corruption.
  for (unsigned i = 0; i < kMaxThreads; ++i) mprotect(g_stacks + i * kStackBytes, page, PROT_NONE);
}

void yield() {
  ++g_stats.switches;
  g_cta.main = std::move(g_cta.main).resume();
}

Warp& my_warp() {
  return g_cta.warps[g_cta.current / 32];
}

// Arrives at the calling lane's warp barrier with `value`; returns the exchange buffer of
// this round once every live lane arrived.
int warp_arrive(unsigned mask, uint64_t value) {
  Warp& w = my_warp();
  const unsigned bit = 1u << (g_cta.current % 32);
  if (mask != w.live) {
    char text[96];
    std::snprintf(text, sizeof text, "warp collective with mask %08x, live lanes %08x", mask,
                  w.live);
    error(text);
  }
  const int buf = static_cast<int>(w.gen & 1);
  w.value[buf][g_cta.current % 32] = value;
  const uint64_t gen = w.gen;
  w.arrived |= bit;
  ++g_cta.progress;
  if (w.arrived == w.live) {
    w.participants[buf] = w.arrived;
    w.arrived = 0;
    ++w.gen;
  } else {
    while (w.gen == gen) yield();
  }
  return buf;
}

// Ends the running fiber's thread: it no longer takes part in barriers.
void finish_current() {
  Cta& c = g_cta;
  Fiber& f = c.fibers[c.current];
  f.done = true;
  --c.live;
  ++c.exited;
  ++c.progress;
  Warp& w = my_warp();
  w.live &= ~(1u << (c.current % 32));
  if (w.arrived != 0 && w.arrived == w.live) {
    error("warp collective completed by a lane exiting");
    w.participants[w.gen & 1] = w.arrived;
    w.arrived = 0;
    ++w.gen;
  }
  if (c.block_arrived != 0 && c.block_arrived == c.live) {
    error("__syncthreads completed by a thread exiting");
    c.block_arrived = 0;
    ++c.block_gen;
  }
}

// A GPU thread's life: the kernel body, then leaving the CTA's barriers; returning hands
// control back to the scheduler for good.
context::fiber run_thread(context::fiber&& scheduler) {
  g_cta.main = std::move(scheduler);
  (*g_cta.body)();
  finish_current();
  return std::move(g_cta.main);
}

bool g_reversed = false;

// Static __shared__ memory of every emulated kernel (see __shared__ in simt_emulator.h). One
// CTA runs at a time, so poisoning all of it at each CTA start is exact: a real GPU gives a
// CTA shared memory of unspecified content, never zeros nor the previous CTA's values.
void poison_static_shared() {
  unsigned char* const begin = __start_tsr_emu_shared;
  unsigned char* const end = __stop_tsr_emu_shared;
  if (begin != nullptr && end > begin) std::memset(begin, 0xff, static_cast<size_t>(end - begin));
}

void run_cta(dim3 grid, dim3 block, uint3 bid) {
  Cta& c = g_cta;
  c.n = block.x * block.y * block.z;
  c.fibers.clear();  // unwinds GPU threads left behind by a deadlocked launch
  c.fibers.resize(c.n);
  c.warps.assign((c.n + 31) / 32, Warp{});
  for (unsigned i = 0; i < c.n; ++i) {
    c.fibers[i].idx = uint3{i % block.x, i / block.x % block.y, i / (block.x * block.y)};
    context::stack_context stack;
    stack.size = kStackBytes;
    stack.sp = g_stacks + (i + 1) * kStackBytes;  // stacks grow down from the top
    c.fibers[i].ctx =
        context::fiber(std::allocator_arg, context::preallocated(stack.sp, stack.size, stack),
                       KeepStack{}, &run_thread);
    c.warps[i / 32].live |= 1u << (i % 32);
  }
  c.live = c.n;
  c.exited = 0;
  c.block_arrived = 0;
  c.block_gen = 0;
  c.progress = 0;
  c.where = "CTA (" + std::to_string(bid.x) + "," + std::to_string(bid.y) + "," +
            std::to_string(bid.z) + ") of (" + std::to_string(grid.x) + "," +
            std::to_string(grid.y) + "," + std::to_string(grid.z) + ")";
  blockIdx = bid;
  if (!g_dynamic_shared.empty()) {
    std::memset(g_dynamic_shared.data(), 0xff, g_dynamic_shared.size());
  }
  poison_static_shared();
  // Warp by warp: one warp runs (its lanes round-robin between warp collectives) until all
  // its live lanes wait at __syncthreads or ended, then the next. A warp thus gets as far
  // ahead of the others as the kernel allows, so a missing __syncthreads between a phase
  // that reads shared memory and one that overwrites it shows up as wrong results.
  const unsigned warps = (c.n + 31) / 32;
  auto run_warp = [&](unsigned w) {
    for (;;) {
      const uint64_t before = c.progress;
      for (unsigned lane = 0; lane < 32 && w * 32 + lane < c.n; ++lane) {
        const unsigned i = w * 32 + (g_reversed ? 31 - lane : lane);
        if (i >= c.n || c.fibers[i].done) continue;
        c.current = i;
        threadIdx = c.fibers[i].idx;
        ++g_stats.switches;
        c.fibers[i].ctx = std::move(c.fibers[i].ctx).resume();
      }
      if (c.progress == before) return;  // every live lane waits on the block barrier
    }
  };
  while (c.live > 0) {
    const uint64_t before = c.progress;
    for (unsigned k = 0; k < warps; ++k) run_warp(g_reversed ? warps - 1 - k : k);
    if (c.live > 0 && c.progress == before) {
      // Every live thread waits on a barrier the others never reach; their stacks are
      // simply abandoned (kernels hold no resources).
      error("deadlock: " + std::to_string(c.live) +
            " threads wait on barriers that cannot complete");
      throw std::runtime_error("simt emulator: deadlock");
    }
  }
  ++g_stats.ctas;
  g_stats.threads += c.n;
}

}  // namespace

void set_schedule_reversed(bool reversed) {
  g_reversed = reversed;
}

void launch(const void* kernel, dim3 grid, dim3 block, size_t dynamic_shared,
            const std::function<void()>& body) {
  g_error_this_launch = false;
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  const auto limit = g_max_dynamic_shared.find(kernel);
  const size_t shared_limit = limit != g_max_dynamic_shared.end()
                                  ? static_cast<size_t>(limit->second)
                                  : kDefaultSharedLimit;
  if (threads == 0 || threads > kMaxThreads || block.z > 64 || grid.x == 0 || grid.y == 0 ||
      grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535 ||
      dynamic_shared > shared_limit) {
    g_last_error = cudaErrorInvalidConfiguration;
    g_errors.push_back("invalid launch configuration: grid (" + std::to_string(grid.x) + "," +
                       std::to_string(grid.y) + "," + std::to_string(grid.z) + "), block (" +
                       std::to_string(block.x) + "," + std::to_string(block.y) + "," +
                       std::to_string(block.z) + "), dynamic shared " +
                       std::to_string(dynamic_shared) + " of " + std::to_string(shared_limit));
    return;
  }
  allocate_stacks();
  g_dynamic_shared.assign(dynamic_shared, 0xff);
  g_cta.body = &body;
  gridDim = grid;
  blockDim = block;
  try {
    for (unsigned z = 0; z < grid.z; ++z) {
      for (unsigned y = 0; y < grid.y; ++y) {
        for (unsigned x = 0; x < grid.x; ++x) run_cta(grid, block, uint3{x, y, z});
      }
    }
  } catch (const std::runtime_error&) {
    g_last_error = cudaErrorLaunchFailure;
  }
  g_cta.body = nullptr;
}

std::vector<std::string> take_errors() {
  std::vector<std::string> out;
  out.swap(g_errors);
  return out;
}

Stats stats() {
  return g_stats;
}

void* dynamic_shared() {
  return g_dynamic_shared.empty() ? nullptr : g_dynamic_shared.data();
}

void sync_block() {
  Cta& c = g_cta;
  if (c.exited != 0) error("__syncthreads after a thread of the CTA exited");
  const uint64_t gen = c.block_gen;
  ++c.block_arrived;
  ++c.progress;
  if (c.block_arrived == c.live) {
    c.block_arrived = 0;
    ++c.block_gen;
    return;
  }
  while (c.block_gen == gen) yield();
}

uint64_t warp_exchange(unsigned mask, uint64_t value, int src_lane, bool* src_valid) {
  const int buf = warp_arrive(mask, value);
  const Warp& w = my_warp();
  *src_valid = (w.participants[buf] >> src_lane) & 1u;
  if (!*src_valid)
    error("shuffle from lane " + std::to_string(src_lane) + " that did not take part");
  return w.value[buf][src_lane];
}

unsigned warp_ballot(unsigned mask, bool predicate) {
  const int buf = warp_arrive(mask, predicate ? 1 : 0);
  const Warp& w = my_warp();
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) {
    if (((w.participants[buf] >> i) & 1u) && w.value[buf][i] != 0) r |= 1u << i;
  }
  return r;
}

void sync_warp(unsigned mask) {
  warp_arrive(mask, 0);
}

int lane() {
  return static_cast<int>(g_cta.current % 32);
}

}  // namespace tsr::emu

// ---- the CUDA runtime calls of the launch functions ------------------------------------

cudaError_t cudaGetLastError() {
  const cudaError_t e = tsr::emu::g_last_error;
  tsr::emu::g_last_error = cudaSuccess;
  return e;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaSuccess;
  if (value < 0 || static_cast<size_t>(value) > tsr::emu::kOptInSharedLimit) {
    return cudaErrorInvalidValue;
  }
  tsr::emu::g_max_dynamic_shared[func] = value;
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t) {
  std::memset(ptr, value, count);
  return cudaSuccess;
}
