// The SIMT emulator's scheduler (see simt_emulator.h): GPU threads as fibers on the calling
// host thread, switched by a few lines of assembly on x86-64 (ucontext elsewhere, about 30x
// slower because it saves the signal mask with a system call), plus the CUDA runtime calls
// the launch functions make. OS threads were tried first: with 1024-thread CTAs on two cores
// every barrier became ~1000 futex wake-ups and the sampling test took minutes.
#include "simt_emulator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <stdexcept>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

// The fiber entry point (defined below) and, on x86-64, the context switch.
extern "C" void tsr_emu_fiber_entry();
#if defined(__x86_64__)
extern "C" void tsr_emu_switch(void** save_sp, void* to_sp);
#endif

namespace tsr::emu {
namespace {

constexpr unsigned kMaxThreads = 1024;
constexpr size_t kStackBytes = size_t{128} << 10;
constexpr size_t kDefaultSharedLimit = 48 * 1024;
constexpr size_t kOptInSharedLimit = 99 * 1024;  // sm_89, the smallest of 80/89/90

#if defined(__x86_64__)
// Saves the callee-saved registers on the current stack, stores the stack pointer in
// *save_sp, loads to_sp and restores the registers saved there.
asm(R"(
  .text
  .globl tsr_emu_switch
  .hidden tsr_emu_switch
  .type tsr_emu_switch, @function
tsr_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size tsr_emu_switch, .-tsr_emu_switch
)");

struct Context {
  void* sp = nullptr;
};

void make_context(Context& c, unsigned char* stack, size_t bytes) {
  auto top = reinterpret_cast<uintptr_t>(stack + bytes) & ~uintptr_t{15};
  auto* slot = reinterpret_cast<void**>(top);
  *--slot = nullptr;                                        // entry's return address
  *--slot = reinterpret_cast<void*>(&tsr_emu_fiber_entry);  // popped by `ret`
  for (int i = 0; i < 6; ++i) *--slot = nullptr;            // rbp rbx r12-r15
  c.sp = slot;
}

void swap_context(Context& from, Context& to) {
  tsr_emu_switch(&from.sp, to.sp);
}
#else
struct Context {
  ucontext_t uc;
};

void make_context(Context& c, unsigned char* stack, size_t bytes) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = bytes;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, &tsr_emu_fiber_entry, 0);
}

void swap_context(Context& from, Context& to) {
  swapcontext(&from.uc, &to.uc);
}
#endif

struct Fiber {
  Context ctx;
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
  Context main;
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
  swap_context(g_cta.fibers[g_cta.current].ctx, g_cta.main);
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

bool g_reversed = false;

void run_cta(dim3 grid, dim3 block, uint3 bid) {
  Cta& c = g_cta;
  c.n = block.x * block.y * block.z;
  c.fibers.assign(c.n, Fiber{});
  c.warps.assign((c.n + 31) / 32, Warp{});
  for (unsigned i = 0; i < c.n; ++i) {
    c.fibers[i].idx = uint3{i % block.x, i / block.x % block.y, i / (block.x * block.y)};
    make_context(c.fibers[i].ctx, g_stacks + i * kStackBytes, kStackBytes);
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
  while (c.live > 0) {
    const uint64_t before = c.progress;
    for (unsigned k = 0; k < c.n; ++k) {
      const unsigned i = g_reversed ? c.n - 1 - k : k;
      if (c.fibers[i].done) continue;
      c.current = i;
      threadIdx = c.fibers[i].idx;
      ++g_stats.switches;
      swap_context(c.main, c.fibers[i].ctx);
    }
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

extern "C" void tsr_emu_fiber_entry() {
  (*g_cta.body)();
  finish_current();
  for (;;) yield();  // never resumed: the scheduler skips finished fibers
}

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
