// SchedulerOutput: one step's plan, a plain value. The scheduler decides, the runner applies:
//   1. swap_out pairs (device -> host), 2. swap_in pairs (host -> device), 3. copies
//   (device -> device, copy-on-write), 4. the forward over `scheduled`.
// That order matters: blocks freed by a swap-out can be handed out again in the same plan.
// Apply every plan's swaps and copies even when `scheduled` is empty.
#pragma once

#include <cstdint>
#include <vector>

#include "kv/kv_cache_manager.h"
#include "scheduler/request.h"

namespace tessera::sched {

struct ScheduledRequest {
  RequestId id;
  // Positions start_position .. start_position + num_tokens - 1 are computed this step;
  // start_position is the request's num_computed_tokens before the step.
  int start_position = 0;
  int num_tokens = 0;
  std::vector<TokenId> token_ids;    // input ids of those positions
  std::vector<BlockId> block_table;  // whole table; covers at least the positions above
  // The step computes the request's last known token (a decode step or the final prefill
  // chunk): the last position's logits are needed and update() expects a sampled token.
  bool needs_logits = false;
  // Position p is stored in block block_table[p / block_size], slot p % block_size.
};

struct SchedulerOutput {
  std::uint64_t step = 0;  // pass the same value back to update()
  std::vector<ScheduledRequest> scheduled;
  int num_batched_tokens = 0;           // sum of num_tokens, <= max_num_batched_tokens
  std::vector<BlockId> new_blocks;      // device blocks allocated this step (contents undefined)
  std::vector<kv::BlockCopy> copies;    // copy-on-write, device -> device
  std::vector<kv::BlockCopy> swap_out;  // device -> host
  std::vector<kv::BlockCopy> swap_in;   // host -> device
  std::vector<RequestId> preempted;     // preempted this step (swapped or back to waiting)
  std::vector<RequestId> finished;      // finished or aborted since the last plan; all freed
};

// One sampled token from the runner, for a scheduled request with needs_logits.
struct SampledToken {
  RequestId id;
  TokenId token = 0;
};

// What update() reports per request that received a token.
struct RequestUpdate {
  RequestId id;
  TokenId token = 0;
  FinishReason finish_reason = FinishReason::kNone;  // kNone: still running
};

}  // namespace tessera::sched
