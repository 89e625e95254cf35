// The CUDA plugin's sample op: host-side validation with the CPU plugin's checks and
// messages for everything the host can see (dtypes, shapes, optional tensors, the top
// logprobs count, outputs not overlapping the logits, device placement), then one launch of
// the sample kernel (sample.cu). Per-row values (temperature, top_p, history ids and offsets)
// live in device memory and cannot be checked here: the kernel treats invalid ones safely
// (NaN temperature: greedy; history offsets clamped, ids outside [0, V) ignored; top_p and
// min_p outside their ranges behave as the CPU's comparisons would). No synchronization, no
// allocation besides the stream workspace: capturable in a CUDA graph.
#include "cuda_ops.h"
#include "sample_kernels.h"

namespace tsr::cuda::ops {
namespace {

// Top logprobs are selected one per block-wide round; beyond this the op is declined.
constexpr int64_t kMaxTopLogprobs = 1024;
// Keeps every index of the kernel's block loops inside int32.
constexpr int64_t kMaxVocab = int64_t{1} << 30;

template <class T>
const T* optional_row_tensor(tsr_stream_s* stream, const tsr_tensor& t, tsr_dtype dtype,
                             int64_t rows, const char* op, const char* field) {
  if (!present(t)) return nullptr;
  const View v = view(t, op, field);
  require_dtype(v, dtype, op, field);
  require_ndim(v, 1, op, field);
  require_dim(v, 0, rows, op, field);
  require_device(stream, t, op, field);
  return v.as<const T>();
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
  TSR_PLUGIN_CHECK(vocab <= kMaxVocab && rows < (int64_t{1} << 31), TSR_ERROR_CODE_UNIMPLEMENTED,
                   "%s: logits [%lld, %lld] exceed the CUDA kernel's limits", op,
                   static_cast<long long>(rows), static_cast<long long>(vocab));
  SampleArgs a;
  a.temperature =
      optional_row_tensor<float>(stream, prm.temperature, TSR_DTYPE_F32, rows, op, "temperature");
  a.top_k = optional_row_tensor<int32_t>(stream, prm.top_k, TSR_DTYPE_I32, rows, op, "top_k");
  a.top_p = optional_row_tensor<float>(stream, prm.top_p, TSR_DTYPE_F32, rows, op, "top_p");
  a.min_p = optional_row_tensor<float>(stream, prm.min_p, TSR_DTYPE_F32, rows, op, "min_p");
  a.repetition = optional_row_tensor<float>(stream, prm.repetition_penalty, TSR_DTYPE_F32, rows, op,
                                            "repetition_penalty");
  a.presence = optional_row_tensor<float>(stream, prm.presence_penalty, TSR_DTYPE_F32, rows, op,
                                          "presence_penalty");
  a.frequency = optional_row_tensor<float>(stream, prm.frequency_penalty, TSR_DTYPE_F32, rows, op,
                                           "frequency_penalty");
  a.seeds = optional_row_tensor<uint64_t>(stream, prm.seeds, TSR_DTYPE_U64, rows, op, "seeds");

  if (present(prm.history_offsets)) {
    const View offsets = view(prm.history_offsets, op, "history_offsets");
    require_dtype(offsets, TSR_DTYPE_I32, op, "history_offsets");
    require_ndim(offsets, 1, op, "history_offsets");
    require_dim(offsets, 0, rows + 1, op, "history_offsets");
    const View tokens = view(prm.history_tokens, op, "history_tokens");
    require_dtype(tokens, TSR_DTYPE_I32, op, "history_tokens");
    require_ndim(tokens, 1, op, "history_tokens");
    const View prompt = view(prm.history_prompt_lens, op, "history_prompt_lens");
    require_dtype(prompt, TSR_DTYPE_I32, op, "history_prompt_lens");
    require_ndim(prompt, 1, op, "history_prompt_lens");
    require_dim(prompt, 0, rows, op, "history_prompt_lens");
    require_device(stream, prm.history_offsets, op, "history_offsets");
    require_device(stream, prm.history_tokens, op, "history_tokens");
    require_device(stream, prm.history_prompt_lens, op, "history_prompt_lens");
    a.offsets = offsets.as<const int32_t>();
    a.history = tokens.as<const int32_t>();
    a.history_len = tokens.numel;
    a.prompt_lens = prompt.as<const int32_t>();
  }

  const View out_tokens = view(prm.out_tokens, op, "out_tokens");
  require_dtype(out_tokens, TSR_DTYPE_I32, op, "out_tokens");
  require_ndim(out_tokens, 1, op, "out_tokens");
  require_dim(out_tokens, 0, rows, op, "out_tokens");
  require_no_overlap(out_tokens, logits, op, "out_tokens", "logits");
  require_device(stream, prm.out_tokens, op, "out_tokens");
  a.out_tokens = out_tokens.as<int32_t>();
  if (present(prm.out_logprobs)) {
    const View v = view(prm.out_logprobs, op, "out_logprobs");
    require_dtype(v, TSR_DTYPE_F32, op, "out_logprobs");
    require_ndim(v, 1, op, "out_logprobs");
    require_dim(v, 0, rows, op, "out_logprobs");
    require_no_overlap(v, logits, op, "out_logprobs", "logits");
    require_device(stream, prm.out_logprobs, op, "out_logprobs");
    a.out_logprobs = v.as<float>();
  }
  const int64_t top_n = prm.num_top_logprobs;
  TSR_PLUGIN_CHECK_ARG(top_n >= 0 && top_n <= vocab, "%s: num_top_logprobs %lld not in [0, %lld]",
                       op, static_cast<long long>(top_n), static_cast<long long>(vocab));
  TSR_PLUGIN_CHECK(top_n <= kMaxTopLogprobs, TSR_ERROR_CODE_UNIMPLEMENTED,
                   "%s: num_top_logprobs %lld exceeds the CUDA kernel's %lld", op,
                   static_cast<long long>(top_n), static_cast<long long>(kMaxTopLogprobs));
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
    a.num_top = static_cast<int32_t>(top_n);
    a.top_ids = ids.as<int32_t>();
    a.top_values = values.as<float>();
  }
  if (!execute || rows == 0) return;

  a.logits = logits.as<const float>();
  a.rows = static_cast<int32_t>(rows);
  a.vocab = static_cast<int32_t>(vocab);
  a.step = prm.step;
  a.slots = sample_slots(rows, vocab, device_info(stream->device->index).sm_count);
  a.workspace = stream_workspace(stream, sample_workspace_bytes(a.slots, vocab), op);
  check(launch_sample(a, stream->stream), "sample: kernel");
}

}  // namespace tsr::cuda::ops
