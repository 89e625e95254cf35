// Dense linear (f32 / bf16 / f16 weights) through oneDNN matmul. The weight is reordered
// ONCE, at prepack, into the layout oneDNN's matmul picks for it (format_tag::any), and
// the primitive is created then too, with a run-time M so one primitive serves every batch
// size. Where the implementation cannot take a run-time M, primitives are created per
// exact M against the same prepacked layout and cached (bounded) on the weight.
// bf16 is used only when oneDNN has a real bf16 kernel on this CPU (AVX-512 BF16/AMX);
// otherwise the weight is kept in f32 and bf16 activations are widened, since oneDNN's
// reference bf16 path is far slower than f32 GEMM.
#ifndef TESSERA_PLUGINS_CPU_LINEAR_ONEDNN_H
#define TESSERA_PLUGINS_CPU_LINEAR_ONEDNN_H

#include <cstdint>
#include <memory>
#include <string>

namespace tsr::cpu {

// Creates the CPU engine (idempotent, thread-safe).
void onednn_init();
// "2.6.3 (git N/A), cpu runtime omp" and the like.
std::string onednn_version_string();
// "omp", "tbb", "seq", "threadpool" ...
const char* onednn_cpu_runtime();

class OnednnGemm {
 public:
  // w: f32 [n][k] row-major (the canonical weight, already widened to f32).
  static std::unique_ptr<OnednnGemm> create(const float* w, int64_t n, int64_t k, bool want_bf16);
  ~OnednnGemm();
  OnednnGemm(const OnednnGemm&) = delete;
  OnednnGemm& operator=(const OnednnGemm&) = delete;

  // True when run() expects bf16 activations, else f32.
  bool bf16() const;
  uint64_t bytes() const;
  // A short description of the chosen implementation, for logs and tests.
  std::string describe() const;
  // dst [m][n] f32 = src [m][k] (bf16() ? bf16 : f32) · W^T.
  void run(const void* src, int64_t m, float* dst) const;

  struct Impl;

 private:
  explicit OnednnGemm(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_LINEAR_ONEDNN_H
