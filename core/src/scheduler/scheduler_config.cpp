// SchedulerConfig validation and name parsing.
#include "scheduler/scheduler_config.h"

#include "common/check.h"

namespace tessera::sched {

void SchedulerConfig::validate() const {
  TSR_CHECK(max_num_batched_tokens >= 1, "max_num_batched_tokens must be >= 1, got {}",
            max_num_batched_tokens);
  TSR_CHECK(max_num_seqs >= 1, "max_num_seqs must be >= 1, got {}", max_num_seqs);
  TSR_CHECK(max_model_len >= 1, "max_model_len must be >= 1, got {}", max_model_len);
  TSR_CHECK(delay_factor >= 0, "scheduler_delay_factor must be >= 0, got {}", delay_factor);
  TSR_CHECK(enable_chunked_prefill || max_num_batched_tokens >= max_model_len,
            "without chunked prefill max_num_batched_tokens ({}) must be >= max_model_len ({}), "
            "otherwise a long prompt could never be scheduled; enable chunked prefill or raise "
            "max_num_batched_tokens",
            max_num_batched_tokens, max_model_len);
}

SchedulingPolicy parse_scheduling_policy(std::string_view name) {
  if (name == "fcfs") return SchedulingPolicy::kFcfs;
  if (name == "priority") return SchedulingPolicy::kPriority;
  throw Error(fmt::format("unknown scheduling policy '{}' (expected fcfs or priority)", name));
}

PreemptionMode parse_preemption_mode(std::string_view name) {
  if (name == "swap") return PreemptionMode::kSwap;
  if (name == "recompute") return PreemptionMode::kRecompute;
  if (name == "auto") return PreemptionMode::kAuto;
  throw Error(fmt::format("unknown preemption mode '{}' (expected swap, recompute or auto)", name));
}

const char* to_string(SchedulingPolicy policy) {
  return policy == SchedulingPolicy::kFcfs ? "fcfs" : "priority";
}

const char* to_string(PreemptionMode mode) {
  switch (mode) {
    case PreemptionMode::kSwap:
      return "swap";
    case PreemptionMode::kRecompute:
      return "recompute";
    case PreemptionMode::kAuto:
      return "auto";
  }
  return "?";
}

}  // namespace tessera::sched
