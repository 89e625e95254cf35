// SchedulerOutput: one step's plan. The scheduler decides, the runner applies:
//   1. swap_out pairs (device -> host), 2. swap_in pairs (host -> device), 3. copies
//   (device -> device, copy-on-write), 4. the forward over `scheduled`.
// That order matters: blocks freed by a swap-out can be handed out again in the same plan.
// Apply every plan's swaps and copies even when `scheduled` is empty.
//
// The plan is a delta, as vLLM v1's (NewRequestData / CachedRequestData): each scheduled
// request carries only the input ids of the positions it computes and the block-table entries
// the runner has not seen yet; the runner keeps each request's table between steps, keyed by
// its dense handle. Scheduler::schedule() fills one plan it owns and reuses (its vectors keep
// their capacity), so a steady decode step allocates nothing; a copy of the plan is a plain
// value.
#pragma once

#include <cstdint>
#include <vector>

#include "kv/kv_cache_manager.h"
#include "scheduler/request.h"

namespace tessera::sched {

struct ScheduledRequest {
  RequestId id;
  RequestHandle handle = kNoHandle;
  // Positions start_position .. start_position + num_tokens - 1 are computed this step;
  // start_position is the request's num_computed_tokens before the step.
  int start_position = 0;
  int num_tokens = 0;
  std::vector<TokenId> token_ids;  // input ids of those positions
  // The request's block table as a delta against the table the runner holds for `handle`:
  // keep its first num_kept_blocks entries, drop the rest, append new_block_ids. The result
  // covers at least the positions above; position p is stored in block table[p / block_size],
  // slot p % block_size. num_kept_blocks is 0 the first time a request is scheduled and after
  // it was preempted (swapped or recomputed); otherwise it keeps every block before the one
  // the step writes first, so a decode step resends at most one block id and the new ones.
  int num_kept_blocks = 0;
  std::vector<BlockId> new_block_ids;
  // The step computes the request's last known token (a decode step or the final prefill
  // chunk): the last position's logits are needed and update() expects a sampled token.
  bool needs_logits = false;
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
  // The handles of `finished`, in the same order: the runner drops their state. A handle is
  // handed to a new request only after the plan that lists it here has been superseded.
  std::vector<RequestHandle> finished_handles;
};

// One sampled token from the runner, for a scheduled request with needs_logits.
struct SampledToken {
  RequestHandle handle = kNoHandle;
  TokenId token = 0;
};

// What update() reports per request that received a token.
struct RequestUpdate {
  RequestId id;
  RequestHandle handle = kNoHandle;
  TokenId token = 0;
  FinishReason finish_reason = FinishReason::kNone;  // kNone: still running
};

}  // namespace tessera::sched
