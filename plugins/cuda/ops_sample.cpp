// The CUDA plugin's sample op: host-side validation with plugins/common/op_checks.h's
// check_sample for everything the host can see (dtypes, shapes, optional tensors, the top
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

}  // namespace

void sample(tsr_stream_s* stream, const tsr_sample_params* p, bool execute) {
  constexpr const char* op = "sample";
  const SampleViews v = check_sample(p, op);
  const int64_t rows = v.rows;
  const int64_t vocab = v.vocab;
  TSR_PLUGIN_CHECK(vocab <= kMaxVocab && rows < (int64_t{1} << 31), TSR_ERROR_CODE_UNIMPLEMENTED,
                   "%s: logits [%lld, %lld] exceed the CUDA kernel's limits", op,
                   static_cast<long long>(rows), static_cast<long long>(vocab));
  TSR_PLUGIN_CHECK(v.top_n <= kMaxTopLogprobs, TSR_ERROR_CODE_UNIMPLEMENTED,
                   "%s: num_top_logprobs %lld exceeds the CUDA kernel's %lld", op,
                   static_cast<long long>(v.top_n), static_cast<long long>(kMaxTopLogprobs));
  require_on_device(stream, v.tensors, op);
  SampleArgs a;
  a.temperature = v.temperature;
  a.top_k = v.top_k;
  a.top_p = v.top_p;
  a.min_p = v.min_p;
  a.repetition = v.repetition_penalty;
  a.presence = v.presence_penalty;
  a.frequency = v.frequency_penalty;
  a.seeds = v.seeds;
  if (v.has_history) {
    a.offsets = v.history_offsets.as<const int32_t>();
    a.history = v.history_tokens.as<const int32_t>();
    a.history_len = v.history_tokens.numel;
    a.prompt_lens = v.history_prompt_lens.as<const int32_t>();
  }
  a.out_tokens = v.out_tokens.as<int32_t>();
  if (v.has_logprobs) a.out_logprobs = v.out_logprobs.as<float>();
  if (v.top_n > 0) {
    a.num_top = static_cast<int32_t>(v.top_n);
    a.top_ids = v.top_ids.as<int32_t>();
    a.top_values = v.top_values.as<float>();
  }
  if (!execute || rows == 0) return;

  a.logits = v.logits.as<const float>();
  a.rows = static_cast<int32_t>(rows);
  a.vocab = static_cast<int32_t>(vocab);
  a.step = p->step;
  a.slots = sample_slots(rows, vocab, device_info(stream->device->index).sm_count);
  a.workspace = stream_workspace(stream, sample_workspace_bytes(a.slots, vocab), op);
  check(launch_sample(a, stream->stream), "sample: kernel");
}

}  // namespace tsr::cuda::ops
