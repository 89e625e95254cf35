// The XPU plugin's sample op (kernels/sample.cl): host-side validation with
// plugins/common/op_checks.h's check_sample for everything the host can see (dtypes, shapes,
// optional tensors, the top logprobs count, outputs not overlapping the logits, device
// placement), then one launch. Per-row values (temperature, top_p, history ids and offsets) live in
// device memory and cannot be checked here: the kernel treats invalid ones safely (NaN
// temperature: greedy; history offsets clamped, ids outside [0, V) ignored).
#include <algorithm>

#include "xpu_ops.h"

namespace tsr::xpu::ops {
namespace {

// Per row slot the kernel keeps four vocabulary-sized 32-bit arrays; slots run in parallel,
// bounded so the workspace stays under this budget for big vocabularies.
constexpr size_t kWorkspaceBudget = size_t{256} << 20;
constexpr int64_t kMaxSlots = 1024;

// The stream's workspace, grown (and zeroed: the kernel relies on zero counts) on demand.
RtMem stream_workspace(tsr_stream_s* stream, size_t bytes) {
  Runtime& rt = runtime();
  if (bytes <= stream->workspace_bytes) return stream->workspace;
  if (stream->workspace != nullptr) {
    rt.queue_finish(stream->queue);  // earlier kernels may still use the old one
    rt.free(stream->device->index, stream->workspace);
    stream->workspace = nullptr;
    stream->workspace_bytes = 0;
  }
  stream->workspace = rt.alloc(stream->device->index, bytes, false, nullptr);
  stream->workspace_bytes = bytes;
  rt.fill(stream->queue, stream->workspace, 0, 0, bytes);
  return stream->workspace;
}

}  // namespace

void sample(tsr_stream_s* stream, const tsr_sample_params* p, bool execute) {
  constexpr const char* op = "sample";
  const SampleViews v = check_sample(p, op);
  const auto& prm = *p;
  const int64_t rows = v.rows;
  const int64_t vocab = v.vocab;
  TSR_PLUGIN_CHECK(
      rows < (int64_t{1} << 31) && vocab * 16 <= static_cast<int64_t>(kWorkspaceBudget),
      TSR_ERROR_CODE_UNIMPLEMENTED, "%s: logits [%lld, %lld] exceed the XPU kernel's limits", op,
      static_cast<long long>(rows), static_cast<long long>(vocab));
  require_on_device(stream, v.tensors, op);
  const bool has_history = v.has_history;
  const int64_t history_len = has_history ? v.history_tokens.numel : 0;
  const bool has_logprobs = v.has_logprobs;
  const int64_t top_n = v.top_n;
  if (!execute || rows == 0) return;

  const size_t slot_bytes = static_cast<size_t>(vocab) * 16;
  const int32_t slots = static_cast<int32_t>(
      std::min<int64_t>({rows, kMaxSlots, static_cast<int64_t>(kWorkspaceBudget / slot_bytes)}));
  RtMem workspace = stream_workspace(stream, slot_bytes * static_cast<size_t>(slots));
  const int32_t n_rows = static_cast<int32_t>(rows);
  const int32_t n_vocab = static_cast<int32_t>(vocab);
  const uint64_t step = prm.step;
  const int32_t num_top = static_cast<int32_t>(top_n);
  const tsr_tensor none{};
  launch(stream, "xpu_sample",
         {arg(prm.logits),
          KernelArg::scalar(n_rows),
          KernelArg::scalar(n_vocab),
          arg(prm.temperature),
          arg(prm.top_k),
          arg(prm.top_p),
          arg(prm.min_p),
          arg(prm.repetition_penalty),
          arg(prm.presence_penalty),
          arg(prm.frequency_penalty),
          arg(prm.seeds),
          KernelArg::scalar(step),
          arg(has_history ? prm.history_tokens : none),
          KernelArg::scalar(history_len),
          arg(has_history ? prm.history_offsets : none),
          arg(has_history ? prm.history_prompt_lens : none),
          arg(prm.out_tokens),
          arg(has_logprobs ? prm.out_logprobs : none),
          KernelArg::scalar(num_top),
          arg(top_n > 0 ? prm.top_ids : none),
          arg(top_n > 0 ? prm.top_values : none),
          KernelArg::buffer(workspace, 0),
          KernelArg::scalar(slots)},
         {static_cast<size_t>(slots), 1, 1}, {1, 1, 1});
}

}  // namespace tsr::xpu::ops
