// F32 weights computed in bf16 (`--dtype bfloat16`) through oneDNN's bf16 matmul, where this
// CPU has a real bf16 kernel (AVX-512 BF16 / AMX); every other float weight runs on our own
// kernels (linear_half.h). The weight is reordered ONCE, at prepack, into the layout oneDNN's
// matmul picks for it (format_tag::any), and the primitive is created then too, with a
// run-time M so one primitive serves every batch size. Where the implementation cannot take a
// run-time M, primitives are created per exact M against the same prepacked layout and
// cached (bounded) on the weight.
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
  // A bf16 matmul of w (f32 [n][k] row-major, the canonical weight), reordered into oneDNN's
  // layout; NULL when oneDNN has no real bf16 kernel on this CPU (its reference one is far
  // slower than our f32 kernels).
  static std::unique_ptr<OnednnGemm> create_bf16(const float* w, int64_t n, int64_t k);
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
