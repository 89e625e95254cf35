// Helpers shared by the emulated CUDA kernel tests: dtype conversions on the host (the CUDA
// headers' own round-to-nearest-even conversions), seeded data, and the check that the
// emulator saw no misuse of barriers or collectives during a test.
#ifndef TESSERA_TESTS_CUDA_EMULATION_EMULATION_UTIL_H
#define TESSERA_TESTS_CUDA_EMULATION_EMULATION_UTIL_H

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tessera/plugin.h"

namespace tsr::emu {
std::vector<std::string> take_errors();
void set_schedule_reversed(bool reversed);
}  // namespace tsr::emu

namespace tsr::test {

// Fails the current test with the emulator's findings (races it can see, bad collectives,
// deadlocks, bad launch configurations) since the last call.
inline void expect_clean_emulation() {
  const std::vector<std::string> errors = tsr::emu::take_errors();
  std::string all;
  for (const std::string& e : errors) all += e + "\n";
  EXPECT_TRUE(errors.empty()) << all;
}

inline size_t dtype_size(tsr_dtype t) {
  return t == TSR_DTYPE_F32 ? 4 : 2;
}

// Activation buffers of any dtype, held as bytes.
struct Buffer {
  tsr_dtype dtype = TSR_DTYPE_F32;
  std::vector<unsigned char> bytes;
  Buffer() = default;
  Buffer(tsr_dtype t, size_t n) : dtype(t), bytes(n * dtype_size(t) + 16, 0) {}
  void* data() { return bytes.data(); }
  const void* data() const { return bytes.data(); }
  size_t size() const { return (bytes.size() - 16) / dtype_size(dtype); }
  float get(size_t i) const {
    if (dtype == TSR_DTYPE_F32) {
      float v;
      std::memcpy(&v, bytes.data() + 4 * i, 4);
      return v;
    }
    if (dtype == TSR_DTYPE_F16) {
      __half h;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      return __half2float(h);
    }
    __nv_bfloat16 b;
    std::memcpy(&b, bytes.data() + 2 * i, 2);
    return __bfloat162float(b);
  }
  void set(size_t i, float v) {
    if (dtype == TSR_DTYPE_F32) {
      std::memcpy(bytes.data() + 4 * i, &v, 4);
    } else if (dtype == TSR_DTYPE_F16) {
      const __half h = __float2half_rn(v);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    } else {
      const __nv_bfloat16 b = __float2bfloat16_rn(v);
      std::memcpy(bytes.data() + 2 * i, &b, 2);
    }
  }
  uint16_t bits16(size_t i) const {
    uint16_t u;
    std::memcpy(&u, bytes.data() + 2 * i, 2);
    return u;
  }
};

inline Buffer random_buffer(tsr_dtype t, size_t n, std::mt19937& rng, float stddev = 1.0f) {
  Buffer b(t, n);
  std::normal_distribution<float> nd(0.0f, stddev);
  for (size_t i = 0; i < n; ++i) b.set(i, nd(rng));
  return b;
}

inline float round_to(tsr_dtype t, float v) {
  if (t == TSR_DTYPE_F16) return __half2float(__float2half_rn(v));
  if (t == TSR_DTYPE_BF16) return __bfloat162float(__float2bfloat16_rn(v));
  return v;
}

inline const char* dtype_name(tsr_dtype t) {
  return t == TSR_DTYPE_F32 ? "f32" : t == TSR_DTYPE_F16 ? "f16" : "bf16";
}

}  // namespace tsr::test

#endif  // TESSERA_TESTS_CUDA_EMULATION_EMULATION_UTIL_H
