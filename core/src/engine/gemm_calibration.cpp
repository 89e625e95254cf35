// ModelRunner::time_gate_up_gemm: the same-run GEMM peak `bench latency` quotes beside
// prefill FLOP/s. It times the plugin's linear op alone on the model's own first gate/up
// weight (its format, its layout, the kernel a prefill of that many rows takes), so the
// ratio prefill FLOP/s : peak says how much of a prefill is spent outside that kernel
// (attention, norms, the other ops, per-op overhead) and how well the kernel does on the
// model's other, smaller shapes.
#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/check.h"
#include "engine/model_runner.h"
#include "model/canonical_weight.h"

namespace tessera::engine {

std::optional<ModelRunner::GemmTiming> ModelRunner::time_gate_up_gemm(int64_t rows, int repeats) {
  // A rank's share of a sharded GEMM is not the model's GEMM (and the other ranks would idle).
  if (tp_size_ != 1) return std::nullopt;
  const runtime::Weight* weight = weights_.model().gate_up_probe();
  if (weight == nullptr || !weight->valid()) return std::nullopt;
  GemmTiming timing;
  timing.rows = std::clamp<int64_t>(rows, 1, options_.max_num_tokens);
  timing.in_features = weights_.config().hidden_size;
  timing.out_features = 2 * weights_.layout().intermediate;
  // Deterministic activations with a normed hidden state's spread, in [-1, 1].
  std::vector<float> x(static_cast<size_t>(timing.rows * timing.in_features));
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<float>(std::sin(0.7 * static_cast<double>(i) + 0.3));
  }
  const auto bytes = model::f32_to_dtype(x, dtype_);
  stream_.copy_to_device(act_.normed, 0, bytes.data(), bytes.size());
  tsr_linear_params p{};
  p.struct_size = sizeof(p);
  p.x = tensor(act_.normed, dtype_, {timing.rows, timing.in_features});
  p.weight = weight->handle();
  p.bias = tsr_tensor{sizeof(tsr_tensor), nullptr, 0, TSR_DTYPE_INVALID, 0, {0, 0, 0, 0}};
  p.out = tensor(act_.gate_up, dtype_, {timing.rows, timing.out_features});
  // One untimed run warms the plugin's workspaces and the caches the way a prefill's
  // earlier layers would; then the best of `repeats`.
  timing.seconds = 0;
  for (int i = 0; i <= std::max(repeats, 1); ++i) {
    stream_.synchronize();
    const auto start = std::chrono::steady_clock::now();
    device_->check(device_->ops().linear(stream_.handle(), &p), "linear");
    stream_.synchronize();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (i > 0 && (timing.seconds == 0 || s < timing.seconds)) timing.seconds = s;
  }
  return timing;
}

}  // namespace tessera::engine
