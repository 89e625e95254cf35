// The XPU plugin's sample op (kernels/sample.cl): host-side validation with the CPU and CUDA
// plugins' checks and messages for everything the host can see (dtypes, shapes, optional
// tensors, the top logprobs count, outputs not overlapping the logits, device placement),
// then one launch. Per-row values (temperature, top_p, history ids and offsets) live in
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

void require_row_tensor(tsr_stream_s* stream, const tsr_tensor& t, tsr_dtype dtype, int64_t rows,
                        const char* op, const char* field) {
  if (!present(t)) return;
  const View v = view(t, op, field);
  require_dtype(v, dtype, op, field);
  require_ndim(v, 1, op, field);
  require_dim(v, 0, rows, op, field);
  require_device(stream, t, op, field);
  require_aligned(v, op, field);
}

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
  const auto& prm = params(p, op);
  const View logits = view(prm.logits, op, "logits");
  require_dtype(logits, TSR_DTYPE_F32, op, "logits");
  require_ndim(logits, 2, op, "logits");
  require_device(stream, prm.logits, op, "logits");
  const int64_t rows = logits.dim(0);
  const int64_t vocab = logits.dim(1);
  TSR_PLUGIN_CHECK_ARG(vocab > 0 && vocab < (int64_t{1} << 31), "%s: logits: vocabulary size", op);
  TSR_PLUGIN_CHECK(
      rows < (int64_t{1} << 31) && vocab * 16 <= static_cast<int64_t>(kWorkspaceBudget),
      TSR_ERROR_CODE_UNIMPLEMENTED, "%s: logits [%lld, %lld] exceed the XPU kernel's limits", op,
      static_cast<long long>(rows), static_cast<long long>(vocab));
  require_row_tensor(stream, prm.temperature, TSR_DTYPE_F32, rows, op, "temperature");
  require_row_tensor(stream, prm.top_k, TSR_DTYPE_I32, rows, op, "top_k");
  require_row_tensor(stream, prm.top_p, TSR_DTYPE_F32, rows, op, "top_p");
  require_row_tensor(stream, prm.min_p, TSR_DTYPE_F32, rows, op, "min_p");
  require_row_tensor(stream, prm.repetition_penalty, TSR_DTYPE_F32, rows, op, "repetition_penalty");
  require_row_tensor(stream, prm.presence_penalty, TSR_DTYPE_F32, rows, op, "presence_penalty");
  require_row_tensor(stream, prm.frequency_penalty, TSR_DTYPE_F32, rows, op, "frequency_penalty");
  require_row_tensor(stream, prm.seeds, TSR_DTYPE_U64, rows, op, "seeds");
  int64_t history_len = 0;
  const bool has_history = present(prm.history_offsets);
  if (has_history) {
    const View offsets = view(prm.history_offsets, op, "history_offsets");
    require_dtype(offsets, TSR_DTYPE_I32, op, "history_offsets");
    require_ndim(offsets, 1, op, "history_offsets");
    require_dim(offsets, 0, rows + 1, op, "history_offsets");
    const View tokens = view(prm.history_tokens, op, "history_tokens");
    require_dtype(tokens, TSR_DTYPE_I32, op, "history_tokens");
    require_ndim(tokens, 1, op, "history_tokens");
    require_row_tensor(stream, prm.history_prompt_lens, TSR_DTYPE_I32, rows, op,
                       "history_prompt_lens");
    TSR_PLUGIN_CHECK_ARG(present(prm.history_prompt_lens), "%s: history_prompt_lens: missing", op);
    require_device(stream, prm.history_offsets, op, "history_offsets");
    require_device(stream, prm.history_tokens, op, "history_tokens");
    require_aligned(offsets, op, "history_offsets");
    require_aligned(tokens, op, "history_tokens");
    history_len = tokens.numel;
  }
  const View out_tokens = view(prm.out_tokens, op, "out_tokens");
  require_dtype(out_tokens, TSR_DTYPE_I32, op, "out_tokens");
  require_ndim(out_tokens, 1, op, "out_tokens");
  require_dim(out_tokens, 0, rows, op, "out_tokens");
  require_no_overlap(out_tokens, logits, op, "out_tokens", "logits");
  require_device(stream, prm.out_tokens, op, "out_tokens");
  const bool has_logprobs = present(prm.out_logprobs);
  if (has_logprobs) {
    const View v = view(prm.out_logprobs, op, "out_logprobs");
    require_dtype(v, TSR_DTYPE_F32, op, "out_logprobs");
    require_ndim(v, 1, op, "out_logprobs");
    require_dim(v, 0, rows, op, "out_logprobs");
    require_no_overlap(v, logits, op, "out_logprobs", "logits");
    require_device(stream, prm.out_logprobs, op, "out_logprobs");
  }
  const int64_t top_n = prm.num_top_logprobs;
  TSR_PLUGIN_CHECK_ARG(top_n >= 0 && top_n <= vocab, "%s: num_top_logprobs %lld not in [0, %lld]",
                       op, static_cast<long long>(top_n), static_cast<long long>(vocab));
  if (top_n > 0) {
    const View ids = view(prm.top_ids, op, "top_ids");
    const View values = view(prm.top_values, op, "top_values");
    require_dtype(ids, TSR_DTYPE_I32, op, "top_ids");
    require_dtype(values, TSR_DTYPE_F32, op, "top_values");
    require_ndim(ids, 2, op, "top_ids");
    require_dim(ids, 0, rows, op, "top_ids");
    require_dim(ids, 1, top_n, op, "top_ids");
    require_same_shape(ids, values, op, "top_ids", "top_values");
    require_no_overlap(ids, logits, op, "top_ids", "logits");
    require_no_overlap(values, logits, op, "top_values", "logits");
    require_device(stream, prm.top_ids, op, "top_ids");
    require_device(stream, prm.top_values, op, "top_values");
  }
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
