// Preemption policy implementation.
#include "scheduler/preemption_policy.h"

namespace tessera::sched {

double swap_cost_s(const CostModel& cost, int num_blocks) {
  return 2.0 * num_blocks * cost.bytes_per_block / cost.copy_bytes_per_s;
}

double recompute_cost_s(const CostModel& cost, int num_tokens) {
  return num_tokens / cost.prefill_tokens_per_s;
}

PreemptionMode choose_preemption_mode(PreemptionMode configured, const CostModel& cost,
                                      int num_blocks, int num_computed_tokens, bool swap_fits) {
  if (!swap_fits || configured == PreemptionMode::kRecompute) return PreemptionMode::kRecompute;
  if (configured == PreemptionMode::kSwap) return PreemptionMode::kSwap;
  if (!cost.known()) return PreemptionMode::kRecompute;
  return swap_cost_s(cost, num_blocks) < recompute_cost_s(cost, num_computed_tokens)
             ? PreemptionMode::kSwap
             : PreemptionMode::kRecompute;
}

bool serve_before(const Request& a, const Request& b, SchedulingPolicy policy) {
  if (policy == SchedulingPolicy::kPriority && a.spec.priority != b.spec.priority)
    return a.spec.priority < b.spec.priority;
  return a.arrival_seq < b.arrival_seq;
}

}  // namespace tessera::sched
