// Preemption policy: who is served first (and so who is preempted last), and how a victim
// gives its blocks back (swap or recompute).
#pragma once

#include "scheduler/request.h"
#include "scheduler/scheduler_config.h"

namespace tessera::sched {

// Measured costs for PreemptionMode::kAuto; the engine measures and sets them. Until all
// three are positive, auto means recompute.
struct CostModel {
  double bytes_per_block = 0;       // device KV bytes of one block, all layers
  double copy_bytes_per_s = 0;      // host<->device copy bandwidth
  double prefill_tokens_per_s = 0;  // prefill throughput
  bool known() const {
    return bytes_per_block > 0 && copy_bytes_per_s > 0 && prefill_tokens_per_s > 0;
  }
};

// Seconds to swap `num_blocks` out now and back in later (two copies).
double swap_cost_s(const CostModel& cost, int num_blocks);
// Seconds to prefill `num_tokens` again.
double recompute_cost_s(const CostModel& cost, int num_tokens);

// kSwap or kRecompute for one victim holding `num_blocks` blocks with `num_computed_tokens`
// written. Swap only when the swap space has room (`swap_fits`); otherwise recompute.
PreemptionMode choose_preemption_mode(PreemptionMode configured, const CostModel& cost,
                                      int num_blocks, int num_computed_tokens, bool swap_fits);

// True when `a` is served before `b`. Queues are kept in this order; the preemption victim is
// the last running request in it (lowest priority, then latest arrival).
bool serve_before(const Request& a, const Request& b, SchedulingPolicy policy);

}  // namespace tessera::sched
