// SchedulerConfig: the knobs of the continuous-batching scheduler, named after vLLM's flags
// (--max-num-batched-tokens, --max-num-seqs, --max-model-len, --enable-chunked-prefill,
// --scheduling-policy, --preemption-mode).
#pragma once

#include <string_view>

namespace tessera::sched {

// kFcfs: arrival order. kPriority: lower NewRequest::priority first, then arrival.
enum class SchedulingPolicy { kFcfs, kPriority };
// How a running request gives its blocks back when the KV cache is full. kAuto picks per
// victim from the CostModel (see preemption_policy.h).
enum class PreemptionMode { kSwap, kRecompute, kAuto };

struct SchedulerConfig {
  int max_num_batched_tokens = 2048;  // token budget of one step
  int max_num_seqs = 256;             // running requests at most
  int max_model_len = 4096;           // prompt + generated tokens at most
  bool enable_chunked_prefill = true;
  SchedulingPolicy policy = SchedulingPolicy::kFcfs;
  PreemptionMode preemption_mode = PreemptionMode::kAuto;
  // --scheduler-delay-factor (vLLM's): while requests run, admit new prompts only once the
  // oldest waiting one has waited longer than delay_factor × the latency of the last step
  // that admitted a prompt, so that prompts gather into fewer, fuller prefill steps. 0: off.
  double delay_factor = 0.0;

  // Throws tessera::Error (invalid argument) for impossible settings. Without chunked
  // prefill a whole context (a prompt, or prompt + outputs after a recompute) must fit one
  // step, so max_num_batched_tokens must be >= max_model_len (vLLM's rule).
  void validate() const;
};

// "fcfs" | "priority"; throws tessera::Error naming the accepted values.
SchedulingPolicy parse_scheduling_policy(std::string_view name);
// "swap" | "recompute" | "auto"; throws tessera::Error naming the accepted values.
PreemptionMode parse_preemption_mode(std::string_view name);
const char* to_string(SchedulingPolicy policy);
const char* to_string(PreemptionMode mode);

}  // namespace tessera::sched
