// A host SIMT emulator that runs the CUDA plugin's kernel source (plugins/cuda/*.cu, compiled
// as C++ by the host compiler with TSR_CUDA_HOST_EMULATION defined) on the CPU, so CI
// machines without a GPU check what the kernels compute. Written by hand: no Debian or PyPI
// package runs CUDA C++ on a CPU.
//
// Include this header before a .cu file. It supplies what nvcc would: the execution-space
// keywords (empty), threadIdx/blockIdx/blockDim/gridDim, __syncthreads, warp shuffles and
// ballots, atomics, the bit and rounding intrinsics the kernels use, and the launch and
// dynamic shared memory hooks of plugins/cuda/cuda_dtype.cuh. The few runtime calls the
// launch functions make (cudaGetLastError, cudaFuncSetAttribute, cudaMemsetAsync) are
// defined in simt_emulator.cpp, so nothing links cudart.
//
// Model and limits:
//   - One CTA at a time, CTAs in grid order. Each GPU thread is a fiber with its own stack,
//     scheduled cooperatively on the calling host thread: a thread runs until it reaches a
//     barrier, a warp collective or its end, then the next lane of its warp runs. One warp
//     runs until all its lanes wait at __syncthreads (or ended) before the next warp starts,
//     so warps get as far ahead of each other as the kernel allows and a missing
//     __syncthreads between reading and overwriting shared memory shows up in the results.
//     Lanes are not lock-stepped; only the synchronisation points order them.
//   - Barriers are exact: __syncthreads releases when every live thread of the CTA arrived,
//     a warp collective when every live lane of the warp arrived. A barrier completed after
//     some thread exited, a collective whose mask is not exactly the warp's live lanes, and a
//     deadlock (every live thread waiting on a barrier the others cannot reach) are recorded
//     as errors (take_errors()) instead of hanging.
//   - __shared__ variables are function-local statics (shared by the CTA's threads) placed
//     in one linker section, tsr_emu_shared; at the start of every CTA the whole section is
//     filled with 0xff bytes (NaN as f32 and f64, -1 as integers), like dynamic shared
//     memory, so a kernel that reads shared memory before writing it (in this CTA) gets
//     poison instead of zeros or the previous CTA's values, and it shows up in results.
//     Limit: GCC 12 ignores the section attribute on statics of function templates, so the
//     __shared__ variables of template kernels (rms_norm_kernel, decode_kernel,
//     tiled_gemm_kernel ...) still live in .bss, zero-initialised and kept between CTAs;
//     only non-template kernels and helpers are poisoned (see the symbols of section
//     tsr_emu_shared: objdump -t cuda_emulation_test | grep tsr_emu_shared).
//   - Launch configurations are checked like the driver does (block <= 1024 threads, grid
//     y/z <= 65535, dynamic shared memory over 48 KiB only after cudaFuncSetAttribute and
//     never over sm_89's 99 KiB); a bad one runs nothing and is returned by the next
//     cudaGetLastError().
//   - No memory-model subtleties: all threads see every store at once (there is no cache,
//     no reordering and no partial-warp divergence), and atomics are plain read-modify-writes.
//     Device pointers are host pointers. Math functions are the host's (glibc), so results can
//     differ from a GPU's in the last ulp of expf/tanhf and where nvcc contracts into FMAs.
//   - Single host thread: launches are not thread-safe.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#undef __device__
#undef __global__
#undef __shared__
#undef __forceinline__
#undef __launch_bounds__
#undef __grid_constant__
#define __device__
#define __global__
// The section is named like a C identifier so the linker defines __start_/__stop_ symbols
// for it (simt_emulator.cpp poisons [__start_tsr_emu_shared, __stop_tsr_emu_shared)).
#define __shared__ static __attribute__((section("tsr_emu_shared")))
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __grid_constant__

#define TSR_SIMT_EMULATOR 1

// The built-in index variables of the running thread, set by the scheduler on every switch.
inline uint3 threadIdx;
inline uint3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

namespace tsr::emu {

// Runs body once per thread of every CTA of the grid (see the header comment).
void launch(const void* kernel, dim3 grid, dim3 block, size_t dynamic_shared,
            const std::function<void()>& body);

// Runs the threads of a CTA in decreasing instead of increasing index order, which exposes
// the other direction of a missing barrier.
void set_schedule_reversed(bool reversed);

// Errors found since the last call (misused barriers or collectives, deadlocks, bad launch
// configurations), cleared by the call.
std::vector<std::string> take_errors();

// Statistics for the test log.
struct Stats {
  uint64_t ctas = 0;
  uint64_t threads = 0;
  uint64_t switches = 0;
};
Stats stats();

// The running CTA's dynamic shared memory.
void* dynamic_shared();

// The calling thread's block barrier and warp exchange (for the intrinsics below).
void sync_block();
uint64_t warp_exchange(unsigned mask, uint64_t value, int src_lane, bool* src_valid);
unsigned warp_ballot(unsigned mask, bool predicate);
void sync_warp(unsigned mask);
int lane();

template <class T>
T shuffle(unsigned mask, T v, int src_lane) {
  static_assert(sizeof(T) <= sizeof(uint64_t));
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bool valid = true;
  const uint64_t got = warp_exchange(mask, bits, src_lane, &valid);
  if (!valid) return v;
  T r;
  std::memcpy(&r, &got, sizeof(T));
  return r;
}

}  // namespace tsr::emu

// The hooks of plugins/cuda/cuda_dtype.cuh.
inline void tsr_cuda_emulated_launch(const void* kernel, dim3 grid, dim3 block, size_t smem,
                                     const std::function<void()>& body) {
  tsr::emu::launch(kernel, grid, block, smem, body);
}
inline void* tsr_cuda_emulated_dynamic_shared() {
  return tsr::emu::dynamic_shared();
}

// cuda_runtime.h's typed overload exists only under nvcc.
template <class... Params>
cudaError_t cudaFuncSetAttribute(void (*kernel)(Params...), cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), attr, value);
}

// ---- device intrinsics ------------------------------------------------------------------

using std::isfinite;
using std::isnan;

template <class A, class B>
inline auto min(A a, B b) {
  using C = decltype(a + b);
  return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(a) : static_cast<C>(b);
}
template <class A, class B>
inline auto max(A a, B b) {
  using C = decltype(a + b);
  return static_cast<C>(a) > static_cast<C>(b) ? static_cast<C>(a) : static_cast<C>(b);
}

inline void __syncthreads() {
  tsr::emu::sync_block();
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  tsr::emu::sync_warp(mask);
}
template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  (void)width;
  return tsr::emu::shuffle(mask, v, src & 31);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  (void)width;
  return tsr::emu::shuffle(mask, v, (tsr::emu::lane() ^ lane_mask) & 31);
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  (void)width;
  const int src = tsr::emu::lane() - static_cast<int>(delta);
  return tsr::emu::shuffle(mask, v, src >= 0 ? src : tsr::emu::lane());
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  (void)width;
  const int src = tsr::emu::lane() + static_cast<int>(delta);
  return tsr::emu::shuffle(mask, v, src < 32 ? src : tsr::emu::lane());
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return tsr::emu::warp_ballot(mask, predicate != 0);
}

inline int __popc(unsigned x) {
  return __builtin_popcount(x);
}
inline int __ffs(int x) {
  return __builtin_ffs(x);
}
inline int __clz(int x) {
  return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x));
}
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
  const uint64_t bytes = (static_cast<uint64_t>(y) << 32) | x;
  unsigned r = 0;
  for (int i = 0; i < 4; ++i) {
    const unsigned sel = (s >> (4 * i)) & 7u;
    r |= static_cast<unsigned>((bytes >> (8 * sel)) & 0xffu) << (8 * i);
  }
  return r;
}
inline unsigned __float_as_uint(float x) {
  unsigned u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
inline float __int_as_float(int i) {
  float x;
  std::memcpy(&x, &i, 4);
  return x;
}
// The emulated sources are compiled with -ffp-contract=off, so these are single roundings.
inline float __fdiv_rn(float a, float b) {
  return a / b;
}
inline float __fmul_rn(float a, float b) {
  return a * b;
}
inline float __fadd_rn(float a, float b) {
  return a + b;
}
inline float __fsub_rn(float a, float b) {
  return a - b;
}

template <class T>
T __ldg(const T* p) {
  return *p;
}
template <class T>
T __ldcs(const T* p) {
  return *p;
}

// Threads never run concurrently, so a plain read-modify-write is atomic.
template <class T>
T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}
template <class T>
T atomicOr(T* p, T v) {
  const T old = *p;
  *p = old | v;
  return old;
}
template <class T>
T atomicMax(T* p, T v) {
  const T old = *p;
  *p = old > v ? old : v;
  return old;
}
