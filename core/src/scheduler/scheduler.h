// Scheduler: continuous batching over a paged KV cache (vLLM v1's behaviour, nano-vllm's size).
//
// The engine's loop, on one thread:
//   add_request() / abort() / finish()        any time between steps
//   const SchedulerOutput& plan = schedule(); decide; the runner applies the plan
//   update(plan, sampled tokens);             advance, stop checks, free, cache full blocks
//   metrics()                                 counters for /metrics
//
// Each step: running requests first (in policy order), each gets min(remaining, budget)
// tokens; when blocks run out the last running request in policy order is preempted (swap,
// recompute or auto). If nobody was preempted, swapped and waiting requests are resumed or
// admitted in policy order until the budget, max_num_seqs or the blocks run out; the first one
// that does not fit stops the loop (no overtaking, so FCFS cannot starve anyone). A preempted
// request resumes only when blocks for its whole context are available. Admission looks up the
// prefix cache; a hit sets num_computed_tokens, never past the last prompt token.
//
// Allocation: a steady decode step (no admission, preemption, finish or prefix-cache
// registration) allocates nothing. schedule() refills one plan the scheduler owns, update()
// one list of updates; requests are slots indexed by a dense RequestHandle, the string ids
// are looked up only by add_request(), abort(), finish() and find().
//
// Not thread-safe: the engine serializes calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "kv/kv_cache_manager.h"
#include "scheduler/preemption_policy.h"
#include "scheduler/request.h"
#include "scheduler/scheduler_config.h"
#include "scheduler/scheduler_output.h"

namespace tessera::sched {

struct SchedulerMetrics {
  int num_running = 0;
  int num_waiting = 0;  // includes requests preempted for recompute
  int num_swapped = 0;
  double kv_usage = 0;      // fraction of device blocks held by requests
  double swap_usage = 0;    // fraction of host swap blocks in use (0 without swap space)
  int num_free_blocks = 0;  // device blocks with ref count 0, cached or not
  std::uint64_t prefix_cache_queries = 0;  // tokens looked up at admission
  std::uint64_t prefix_cache_hits = 0;     // of those, tokens served from the cache
  std::uint64_t preemptions_swap = 0;
  std::uint64_t preemptions_recompute = 0;
  std::uint64_t recomputed_tokens = 0;  // computed before a preemption and computed again
  std::uint64_t swapped_out_blocks = 0;
  std::uint64_t swapped_in_blocks = 0;
  std::uint64_t num_steps = 0;
};

class Scheduler {
 public:
  // Throws tessera::Error for an invalid config.
  Scheduler(SchedulerConfig config, kv::KvCacheConfig kv_config);

  // Queues a request and returns its handle (what plans, sampled tokens and updates carry).
  // Throws tessera::Error (kInvalidArgument) with a message for the user when it can never
  // run: empty prompt, max_tokens < 1, prompt + max_tokens beyond max_model_len or beyond the
  // KV cache capacity, a duplicate id. Nothing changes then.
  RequestHandle add_request(NewRequest request);

  // Frees everything a request holds, in any state; it is listed in the next plan's
  // `finished`. False if the id is unknown (already finished). Safe between schedule() and
  // update(): update() then ignores that request.
  bool abort(const RequestId& id) { return finish(id, FinishReason::kAbort); }
  // Same, with a reason: the engine reports stop strings as finish(id, FinishReason::kStop).
  bool finish(const RequestId& id, FinishReason reason);

  // The next step's plan, valid until the next schedule() (copy it to keep it). A plan that
  // scheduled requests must be passed to update() before the next schedule() (throws
  // otherwise).
  const SchedulerOutput& schedule();

  // Applies the results of `plan`: advances num_computed_tokens, appends one sampled token per
  // scheduled request with needs_logits (no more, no fewer: throws on a mismatch), applies
  // max_tokens / eos / stop token ids / max_model_len, frees finished requests and registers
  // newly full blocks in the prefix cache. Returns one RequestUpdate per appended token, in
  // plan order, valid until the next update().
  std::span<const RequestUpdate> update(const SchedulerOutput& plan,
                                        std::span<const SampledToken> sampled);

  // The clock of delay_factor, in seconds (default: steady_clock); tests give a fake one.
  void set_clock(std::function<double()> now_seconds) { clock_ = std::move(now_seconds); }

  // Costs for PreemptionMode::kAuto, measured by the engine.
  void set_cost_model(const CostModel& cost) { cost_ = cost; }

  SchedulerMetrics metrics() const;
  // nullptr once finished or aborted.
  const Request* find(const RequestId& id) const;
  int num_unfinished() const { return static_cast<int>(ids_.size()); }
  bool has_unfinished() const { return !ids_.empty(); }
  const SchedulerConfig& config() const { return config_; }
  const kv::KvCacheManager& kv_cache() const { return kv_; }
  // Forgets the prefix cache's free blocks (benchmarks call it between runs, so that a run
  // does not reuse the prompts of the one before); returns the number of blocks dropped.
  int reset_prefix_cache() { return kv_.reset_prefix_cache(); }

  // Throws tessera::Error (kInternal) naming the first broken invariant (queues, statuses,
  // block tables, ref counts). Cheap enough for tests to call after every step.
  void check_consistency() const;

 private:
  using Queue = std::vector<Request*>;  // kept sorted by serve_before

  void insert_sorted(Queue& q, Request* r);
  static void remove_from(Queue& q, Request* r);
  Queue& queue_of(const Request& r);

  // A plan entry for `r`: a reused slot, so that its vectors keep their capacity.
  ScheduledRequest& next_scheduled_slot(SchedulerOutput& out);
  void emit(Request& r, int num_tokens, SchedulerOutput& out);
  // Starts a plan: recycles the handles the previous plan reported finished and empties the
  // plan, keeping every vector's capacity.
  void reset_plan();
  void check_sampled(const SchedulerOutput& plan, std::span<const SampledToken> sampled);
  void preempt(Request& victim, kv::KvPlan& plan, SchedulerOutput& out);
  bool try_admit(Request& r, int budget, kv::KvPlan& plan, SchedulerOutput& out);
  bool try_resume_swapped(Request& r, int budget, kv::KvPlan& plan, SchedulerOutput& out);
  void finish_request(Request& r, FinishReason reason);
  // delay_factor's test, once per step (vLLM's _passed_delay).
  bool prompts_may_start();

  SchedulerConfig config_;
  kv::KvCacheManager kv_;
  CostModel cost_;
  // Unfinished requests by id. A finished request leaves `ids_` at once but keeps its slot
  // (so plans and updates may still name it) until its handle is recycled.
  std::unordered_map<RequestId, RequestHandle> ids_;
  std::vector<std::unique_ptr<Request>> slots_;  // by handle
  std::vector<RequestHandle> free_handles_;
  Queue running_;
  Queue waiting_;
  Queue swapped_;
  std::vector<RequestId> finished_since_plan_;
  std::vector<RequestHandle> finished_handles_since_plan_;
  // Reused from step to step: the plan, spare plan entries, the KV manager's plan, updates.
  SchedulerOutput plan_;
  std::vector<ScheduledRequest> spare_scheduled_;
  kv::KvPlan kv_plan_;
  std::vector<RequestUpdate> updates_;
  std::size_t num_updates_ = 0;
  // Per handle: the step whose plan expects a token for it, and the step and token sampled.
  std::vector<std::uint64_t> expects_token_in_step_;
  std::vector<std::uint64_t> sampled_in_step_;
  std::vector<TokenId> sampled_token_;
  std::uint64_t next_arrival_ = 0;
  std::uint64_t step_ = 0;
  bool awaiting_update_ = false;
  SchedulerMetrics counters_;  // the cumulative fields
  std::function<double()> clock_;
  double last_step_time_ = 0;
  double last_prompt_latency_ = 0;
  bool prompt_in_last_step_ = false;
};

}  // namespace tessera::sched
