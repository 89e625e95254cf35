// The SIMT emulator itself: warp collectives give CUDA's results, barriers order shared
// memory, a missing barrier is visible, and misuse (a deadlock, a bad launch configuration,
// too much dynamic shared memory) is reported instead of hanging or running.
#include "simt_emulator.h"
// After the emulator, as in the emulated kernel sources.
#include <gtest/gtest.h>

#include <vector>

#include "cuda_dtype.cuh"
#include "emulation_util.h"

namespace tsr::test {
namespace {

__global__ void collectives_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int tid = static_cast<int>(threadIdx.x);
  int sum = tid;
  for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  const unsigned odd = __ballot_sync(0xffffffffu, lane & 1);
  const int up = __shfl_up_sync(0xffffffffu, tid, 3);
  const int from5 = __shfl_sync(0xffffffffu, tid, 5);
  out[4 * tid + 0] = sum;
  out[4 * tid + 1] = static_cast<int>(odd);
  out[4 * tid + 2] = up;
  out[4 * tid + 3] = from5;
}

TEST(SimtEmulator, WarpCollectives) {
  std::vector<int> out(4 * 64, -1);
  cuda::tsr_cuda_launch(collectives_kernel, 1, 64, 0, nullptr, out.data());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  expect_clean_emulation();
  for (int t = 0; t < 64; ++t) {
    const int warp_base = t / 32 * 32;
    const int warp_sum = 32 * warp_base + 31 * 32 / 2;
    EXPECT_EQ(out[4 * t + 0], warp_sum) << t;
    EXPECT_EQ(static_cast<unsigned>(out[4 * t + 1]), 0xaaaaaaaau) << t;
    EXPECT_EQ(out[4 * t + 2], t % 32 >= 3 ? t - 3 : t) << t;
    EXPECT_EQ(out[4 * t + 3], warp_base + 5) << t;
  }
}

// Every thread reads its neighbour's shared slot; only the barrier makes that the value the
// neighbour wrote in this CTA.
__global__ void neighbour_kernel(int* out, bool barrier) {
  __shared__ int slot[128];
  const int tid = static_cast<int>(threadIdx.x);
  slot[tid] = tid + 1000 * static_cast<int>(blockIdx.x);
  if (barrier) __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = slot[(tid + 1) % 128];
}

TEST(SimtEmulator, BarrierOrdersSharedMemoryAndItsAbsenceShows) {
  std::vector<int> out(256, -1);
  cuda::tsr_cuda_launch(neighbour_kernel, 2, 128, 0, nullptr, out.data(), true);
  expect_clean_emulation();
  for (int i = 0; i < 256; ++i) EXPECT_EQ(out[i], (i + 1) % 128 + 1000 * (i / 128));
  cuda::tsr_cuda_launch(neighbour_kernel, 2, 128, 0, nullptr, out.data(), false);
  int stale = 0;
  for (int i = 0; i < 256; ++i) stale += out[i] != (i + 1) % 128 + 1000 * (i / 128);
  EXPECT_GT(stale, 0) << "a missing barrier must be observable";
}

// Thread 0 reads the static shared slot before anyone wrote it in this CTA, then every
// thread writes it: a real GPU gives the CTA shared memory of unspecified content, so the
// emulator must hand out poison (0xff bytes), not zeros nor the previous CTA's value.
__global__ void read_before_write_kernel(float* out) {
  __shared__ float slot;
  __shared__ int count;
  if (threadIdx.x == 0) {
    out[2 * blockIdx.x] = slot;
    out[2 * blockIdx.x + 1] = static_cast<float>(count);
  }
  __syncthreads();
  slot = 1.0f + static_cast<float>(blockIdx.x);
  count = 0;
}

TEST(SimtEmulator, StaticSharedMemoryIsPoisonedAtEveryCtaStart) {
  std::vector<float> out(6, 0.0f);
  cuda::tsr_cuda_launch(read_before_write_kernel, 3, 32, 0, nullptr, out.data());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  expect_clean_emulation();
  for (int cta = 0; cta < 3; ++cta) {
    EXPECT_TRUE(std::isnan(out[2 * cta])) << "CTA " << cta << " read " << out[2 * cta];
    EXPECT_EQ(out[2 * cta + 1], -1.0f) << "CTA " << cta << ": an int of 0xff bytes";
  }
}

// Lane 0 waits at the block barrier while lanes 1..31 wait for it in a shuffle.
__global__ void deadlock_kernel(int* out) {
  if (threadIdx.x == 0) {
    __syncthreads();
  } else {
    out[threadIdx.x] = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x), 0);
  }
}

TEST(SimtEmulator, DeadlockIsReportedNotHung) {
  std::vector<int> out(32, 0);
  cuda::tsr_cuda_launch(deadlock_kernel, 1, 32, 0, nullptr, out.data());
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  const std::vector<std::string> errors = tsr::emu::take_errors();
  ASSERT_FALSE(errors.empty());
  bool deadlock = false;
  for (const std::string& e : errors)
    deadlock = deadlock || e.find("deadlock") != std::string::npos;
  EXPECT_TRUE(deadlock);
}

__global__ void dynamic_shared_kernel(float* out) {
  TSR_CUDA_DYNAMIC_SHARED(float, buf);
  out[threadIdx.x] = buf[threadIdx.x];
}

TEST(SimtEmulator, LaunchConfigurationIsChecked) {
  std::vector<float> out(64, 0.0f);
  cuda::tsr_cuda_launch(dynamic_shared_kernel, 1, 2048, 0, nullptr, out.data());
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  cuda::tsr_cuda_launch(dynamic_shared_kernel, 1, 64, 64 * 1024, nullptr, out.data());
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_EQ(tsr::emu::take_errors().size(), 2u);
  // After opting in, 64 KiB is fine; unwritten dynamic shared memory reads as NaN.
  ASSERT_EQ(cudaFuncSetAttribute(dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 64 * 1024),
            cudaSuccess);
  cuda::tsr_cuda_launch(dynamic_shared_kernel, 1, 64, 64 * 1024, nullptr, out.data());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  expect_clean_emulation();
  for (float v : out) EXPECT_TRUE(std::isnan(v));
}

}  // namespace
}  // namespace tsr::test
