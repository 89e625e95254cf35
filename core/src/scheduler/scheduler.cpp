// Scheduler implementation; see scheduler.h for the step algorithm.
#include "scheduler/scheduler.h"

#include <algorithm>
#include <chrono>

#include "common/check.h"

namespace tessera::sched {

namespace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Scheduler::Scheduler(SchedulerConfig config, kv::KvCacheConfig kv_config)
    : config_((config.validate(), config)), kv_(std::move(kv_config)), clock_(&steady_seconds) {}

RequestHandle Scheduler::add_request(NewRequest req) {
  TSR_CHECK(!req.id.empty(), "request id must not be empty");
  TSR_CHECK(ids_.count(req.id) == 0, "request id '{}' is already in use", req.id);
  const int prompt = static_cast<int>(req.prompt_token_ids.size());
  TSR_CHECK(prompt > 0, "request '{}': the prompt is empty", req.id);
  TSR_CHECK(req.max_tokens >= 1, "request '{}': max_tokens must be >= 1, got {}", req.id,
            req.max_tokens);
  TSR_CHECK(req.min_tokens >= 0 && req.min_tokens <= req.max_tokens,
            "request '{}': min_tokens must be in [0, max_tokens={}], got {}", req.id,
            req.max_tokens, req.min_tokens);
  const long long total = static_cast<long long>(prompt) + req.max_tokens;
  TSR_CHECK(total <= config_.max_model_len,
            "request '{}': prompt ({} tokens) + max_tokens ({}) = {} tokens exceeds the maximum "
            "context length of {} tokens (max_model_len); shorten the prompt or lower max_tokens",
            req.id, prompt, req.max_tokens, total, config_.max_model_len);
  TSR_CHECK(total <= kv_.capacity_tokens(),
            "request '{}': prompt ({} tokens) + max_tokens ({}) = {} tokens exceeds the KV cache "
            "capacity of {} tokens ({} blocks of {}); lower max_tokens or give the KV cache more "
            "memory",
            req.id, prompt, req.max_tokens, total, kv_.capacity_tokens(), kv_.num_blocks(),
            kv_.block_size());
  auto r = std::make_unique<Request>(std::move(req), next_arrival_++);
  Request* raw = r.get();
  raw->arrival_time = clock_();
  if (free_handles_.empty()) {
    raw->handle = static_cast<RequestHandle>(slots_.size());
    slots_.push_back(std::move(r));
    expects_token_in_step_.resize(slots_.size(), 0);
    sampled_in_step_.resize(slots_.size(), 0);
    sampled_token_.resize(slots_.size(), 0);
  } else {
    raw->handle = free_handles_.back();
    free_handles_.pop_back();
    slots_[static_cast<std::size_t>(raw->handle)] = std::move(r);
  }
  ids_.emplace(raw->spec.id, raw->handle);
  insert_sorted(waiting_, raw);
  return raw->handle;
}

bool Scheduler::finish(const RequestId& id, FinishReason reason) {
  auto it = ids_.find(id);
  if (it == ids_.end()) return false;
  finish_request(*slots_[static_cast<std::size_t>(it->second)], reason);
  return true;
}

void Scheduler::finish_request(Request& r, FinishReason reason) {
  remove_from(queue_of(r), &r);
  kv_.free(r.spec.id);
  r.status = RequestStatus::kFinished;
  r.finish_reason = reason;
  finished_since_plan_.push_back(r.spec.id);
  finished_handles_since_plan_.push_back(r.handle);
  ids_.erase(r.spec.id);  // r itself lives in its slot until the handle is recycled
}

void Scheduler::reset_plan() {
  SchedulerOutput& out = plan_;
  // The runner has dropped the state of the handles the previous plan listed: reuse them.
  for (RequestHandle h : out.finished_handles) {
    slots_[static_cast<std::size_t>(h)].reset();
    free_handles_.push_back(h);
  }
  // Reversed, so that the next plan takes them back in the same order (a request that keeps
  // its place keeps its entry, whose id string then already has the room).
  for (auto it = out.scheduled.rbegin(); it != out.scheduled.rend(); ++it) {
    spare_scheduled_.push_back(std::move(*it));
  }
  out.scheduled.clear();
  out.num_batched_tokens = 0;
  out.preempted.clear();
  out.finished.clear();
  out.finished.swap(finished_since_plan_);
  out.finished_handles.clear();
  out.finished_handles.swap(finished_handles_since_plan_);
  kv_plan_.new_blocks.clear();
  kv_plan_.copies.clear();
  kv_plan_.swap_out.clear();
  kv_plan_.swap_in.clear();
}

const SchedulerOutput& Scheduler::schedule() {
  TSR_CHECK_KIND(!awaiting_update_, ErrorKind::kInternal,
                 "schedule() called before update() of step {}", step_);
  reset_plan();
  SchedulerOutput& out = plan_;
  out.step = ++step_;
  ++counters_.num_steps;
  kv::KvPlan& plan = kv_plan_;
  int budget = config_.max_num_batched_tokens;
  bool preempted = false;

  // Running requests, in policy order; victims come from the back, which is never a request
  // already scheduled in this loop.
  for (std::size_t i = 0; i < running_.size() && budget > 0;) {
    Request& r = *running_[i];
    int num_new = r.num_tokens() - r.num_computed_tokens;
    if (!config_.enable_chunked_prefill && num_new > budget) {
      ++i;
      continue;
    }
    num_new = std::min(num_new, budget);
    bool allocated = false;
    while (!allocated) {
      allocated = kv_.allocate_slots(r.spec.id, r.num_computed_tokens,
                                     r.num_computed_tokens + num_new, {}, &plan);
      if (allocated) break;
      Request& victim = *running_.back();
      preempt(victim, plan, out);
      preempted = true;
      if (&victim == &r) break;
    }
    if (!allocated) break;
    emit(r, num_new, out);
    budget -= num_new;
    ++i;
  }

  // Swapped and waiting requests, merged in policy order. Skipped after a preemption: the
  // blocks just freed are for the running requests, and admitting now would thrash. Waiting
  // requests may also be held back by delay_factor.
  const bool admit_waiting = prompts_may_start();
  while (!preempted && budget > 0 && static_cast<int>(running_.size()) < config_.max_num_seqs) {
    Request* next = nullptr;
    if (!swapped_.empty()) next = swapped_.front();
    if (admit_waiting && !waiting_.empty() &&
        (!next || serve_before(*waiting_.front(), *next, config_.policy)))
      next = waiting_.front();
    if (!next) break;
    const bool resume = next->status == RequestStatus::kSwapped;
    bool ok =
        resume ? try_resume_swapped(*next, budget, plan, out) : try_admit(*next, budget, plan, out);
    if (!ok) break;
    if (!resume) prompt_in_last_step_ = true;
    budget -= out.scheduled.back().num_tokens;
  }

  // Swapped, not moved: both sides keep their capacity for the next steps.
  out.new_blocks.swap(plan.new_blocks);
  out.copies.swap(plan.copies);
  out.swap_out.swap(plan.swap_out);
  out.swap_in.swap(plan.swap_in);
  awaiting_update_ = !out.scheduled.empty();
  return out;
}

bool Scheduler::prompts_may_start() {
  const double now = clock_();
  if (prompt_in_last_step_) last_prompt_latency_ = now - last_step_time_;
  last_step_time_ = now;
  prompt_in_last_step_ = false;
  if (config_.delay_factor <= 0 || waiting_.empty() || running_.empty()) return true;
  double earliest = now;
  for (const Request* r : waiting_) earliest = std::min(earliest, r->arrival_time);
  return now - earliest > config_.delay_factor * last_prompt_latency_;
}

ScheduledRequest& Scheduler::next_scheduled_slot(SchedulerOutput& out) {
  if (spare_scheduled_.empty()) return out.scheduled.emplace_back();
  out.scheduled.push_back(std::move(spare_scheduled_.back()));
  spare_scheduled_.pop_back();
  return out.scheduled.back();
}

void Scheduler::emit(Request& r, int num_tokens, SchedulerOutput& out) {
  ScheduledRequest& s = next_scheduled_slot(out);
  s.id = r.spec.id;  // into a reused string: no allocation once it has the room
  s.handle = r.handle;
  s.start_position = r.num_computed_tokens;
  s.num_tokens = num_tokens;
  auto first = r.token_ids.begin() + r.num_computed_tokens;
  s.token_ids.assign(first, first + num_tokens);
  // allocate_slots changes no block before the first one this step writes, so the runner's
  // copy of those stays valid; that block (copy-on-write may have replaced it) and every later
  // one are sent again.
  const std::vector<BlockId>& table = kv_.block_table(r.spec.id);
  const int kept = std::min(r.num_blocks_sent, r.num_computed_tokens / kv_.block_size());
  s.num_kept_blocks = kept;
  s.new_block_ids.assign(table.begin() + kept, table.end());
  r.num_blocks_sent = static_cast<int>(table.size());
  s.needs_logits = r.num_computed_tokens + num_tokens == r.num_tokens();
  out.num_batched_tokens += num_tokens;
}

void Scheduler::preempt(Request& victim, kv::KvPlan& plan, SchedulerOutput& out) {
  running_.pop_back();
  const int blocks = kv_.blocks_for(victim.num_computed_tokens);
  const PreemptionMode mode =
      choose_preemption_mode(config_.preemption_mode, cost_, blocks, victim.num_computed_tokens,
                             kv_.swap_space().num_free_blocks() >= blocks);
  if (mode == PreemptionMode::kSwap &&
      kv_.swap_out(victim.spec.id, victim.num_computed_tokens, &plan)) {
    victim.status = RequestStatus::kSwapped;
    insert_sorted(swapped_, &victim);
    ++counters_.preemptions_swap;
    counters_.swapped_out_blocks += static_cast<std::uint64_t>(blocks);
  } else {
    kv_.free(victim.spec.id);
    victim.computed_before_preemption = victim.num_computed_tokens;
    victim.num_computed_tokens = 0;
    victim.resume_whole_context = true;
    victim.status = RequestStatus::kWaiting;
    insert_sorted(waiting_, &victim);
    ++counters_.preemptions_recompute;
  }
  ++victim.num_preemptions;
  victim.num_blocks_sent = 0;
  out.preempted.push_back(victim.spec.id);
}

bool Scheduler::try_admit(Request& r, int budget, kv::KvPlan& plan, SchedulerOutput& out) {
  const int num_tokens = r.num_tokens();
  std::vector<BlockId> hits;
  if (!r.spec.skip_prefix_cache) hits = kv_.match_prefix(r.token_ids);
  // At least the last token is computed, so that its logits exist.
  const int hit_tokens = std::min(static_cast<int>(hits.size()) * kv_.block_size(), num_tokens - 1);
  hits.resize(static_cast<std::size_t>(kv_.blocks_for(hit_tokens)));
  int num_new = num_tokens - hit_tokens;
  if (!config_.enable_chunked_prefill && num_new > budget) return false;
  num_new = std::min(num_new, budget);
  const int slots = r.resume_whole_context ? num_tokens : hit_tokens + num_new;
  if (!kv_.allocate_slots(r.spec.id, hit_tokens, slots, hits, &plan)) return false;

  counters_.prefix_cache_queries += static_cast<std::uint64_t>(num_tokens);
  counters_.prefix_cache_hits += static_cast<std::uint64_t>(hit_tokens);
  if (r.resume_whole_context) {
    counters_.recomputed_tokens +=
        static_cast<std::uint64_t>(std::max(0, r.computed_before_preemption - hit_tokens));
    r.resume_whole_context = false;
  }
  r.num_computed_tokens = hit_tokens;
  r.num_blocks_sent = 0;
  kv_.reserve(r.spec.id, r.num_prompt_tokens() + r.spec.max_tokens);
  remove_from(waiting_, &r);
  r.status = RequestStatus::kRunning;
  insert_sorted(running_, &r);
  emit(r, num_new, out);
  return true;
}

bool Scheduler::try_resume_swapped(Request& r, int budget, kv::KvPlan& plan, SchedulerOutput& out) {
  int num_new = r.num_tokens() - r.num_computed_tokens;
  if (!config_.enable_chunked_prefill && num_new > budget) return false;
  num_new = std::min(num_new, budget);
  const auto host_blocks = kv_.host_block_table(r.spec.id).size();
  // The whole context, not just this step's tokens: no thrash.
  if (!kv_.swap_in(r.spec.id, r.num_tokens(), &plan)) return false;
  counters_.swapped_in_blocks += host_blocks;
  r.num_blocks_sent = 0;
  kv_.reserve(r.spec.id, r.num_prompt_tokens() + r.spec.max_tokens);
  remove_from(swapped_, &r);
  r.status = RequestStatus::kRunning;
  insert_sorted(running_, &r);
  emit(r, num_new, out);
  return true;
}

// Marks, per handle, which requests of `plan` expect a token and which token was sampled, and
// throws on a duplicate or unexpected one; arrays indexed by handle, no allocation.
void Scheduler::check_sampled(const SchedulerOutput& plan, std::span<const SampledToken> sampled) {
  const std::uint64_t step = plan.step;
  for (const ScheduledRequest& s : plan.scheduled) {
    if (s.needs_logits) expects_token_in_step_[static_cast<std::size_t>(s.handle)] = step;
  }
  for (const SampledToken& t : sampled) {
    TSR_CHECK_KIND(t.handle >= 0 && static_cast<std::size_t>(t.handle) < slots_.size() &&
                       slots_[static_cast<std::size_t>(t.handle)],
                   ErrorKind::kInternal, "sampled token for unknown request handle {}", t.handle);
    const auto h = static_cast<std::size_t>(t.handle);
    const RequestId& id = slots_[h]->spec.id;
    TSR_CHECK_KIND(sampled_in_step_[h] != step, ErrorKind::kInternal,
                   "two sampled tokens for request '{}'", id);
    TSR_CHECK_KIND(expects_token_in_step_[h] == step, ErrorKind::kInternal,
                   "sampled token for request '{}', which did not need logits in step {}", id,
                   step);
    sampled_in_step_[h] = step;
    sampled_token_[h] = t.token;
  }
}

std::span<const RequestUpdate> Scheduler::update(const SchedulerOutput& plan,
                                                 std::span<const SampledToken> sampled) {
  TSR_CHECK_KIND(awaiting_update_ && plan.step == step_, ErrorKind::kInternal,
                 "update() for step {} but the pending step is {}", plan.step,
                 awaiting_update_ ? step_ : 0);
  check_sampled(plan, sampled);
  awaiting_update_ = false;

  // Entries are overwritten in place (never destroyed), so their id strings keep their room.
  num_updates_ = 0;
  for (const ScheduledRequest& s : plan.scheduled) {
    Request& r = *slots_[static_cast<std::size_t>(s.handle)];
    if (r.status == RequestStatus::kFinished) continue;  // aborted or finished after the plan
    TSR_CHECK_KIND(r.status == RequestStatus::kRunning && r.num_computed_tokens == s.start_position,
                   ErrorKind::kInternal, "request '{}' changed between schedule() and update()",
                   s.id);
    r.num_computed_tokens += s.num_tokens;
    if (!s.needs_logits) {
      kv_.cache_full_blocks(r.spec.id, r.token_ids, r.num_computed_tokens);
      continue;
    }
    const auto h = static_cast<std::size_t>(s.handle);
    TSR_CHECK_KIND(sampled_in_step_[h] == plan.step, ErrorKind::kInternal,
                   "no sampled token for request '{}' in step {}", s.id, plan.step);
    const TokenId token = sampled_token_[h];
    FinishReason reason = r.append_and_check_stop(token, config_.max_model_len);
    kv_.cache_full_blocks(r.spec.id, r.token_ids, r.num_computed_tokens);
    if (num_updates_ == updates_.size()) updates_.emplace_back();
    RequestUpdate& u = updates_[num_updates_++];
    u.id = r.spec.id;
    u.handle = s.handle;
    u.token = token;
    u.finish_reason = reason;
    if (reason != FinishReason::kNone) finish_request(r, reason);
  }
  return std::span<const RequestUpdate>(updates_).first(num_updates_);
}

SchedulerMetrics Scheduler::metrics() const {
  SchedulerMetrics m = counters_;
  m.num_running = static_cast<int>(running_.size());
  m.num_waiting = static_cast<int>(waiting_.size());
  m.num_swapped = static_cast<int>(swapped_.size());
  m.kv_usage = kv_.usage();
  const auto& swap = kv_.swap_space();
  m.swap_usage =
      swap.num_blocks() == 0
          ? 0.0
          : static_cast<double>(swap.num_blocks() - swap.num_free_blocks()) / swap.num_blocks();
  m.num_free_blocks = kv_.pool().num_free_blocks();
  return m;
}

const Request* Scheduler::find(const RequestId& id) const {
  auto it = ids_.find(id);
  return it == ids_.end() ? nullptr : slots_[static_cast<std::size_t>(it->second)].get();
}

void Scheduler::insert_sorted(Queue& q, Request* r) {
  auto pos = std::upper_bound(q.begin(), q.end(), r, [this](const Request* a, const Request* b) {
    return serve_before(*a, *b, config_.policy);
  });
  q.insert(pos, r);
}

void Scheduler::remove_from(Queue& q, Request* r) {
  auto it = std::find(q.begin(), q.end(), r);
  TSR_CHECK_KIND(it != q.end(), ErrorKind::kInternal, "request '{}' missing from its queue",
                 r->spec.id);
  q.erase(it);
}

Scheduler::Queue& Scheduler::queue_of(const Request& r) {
  switch (r.status) {
    case RequestStatus::kRunning:
      return running_;
    case RequestStatus::kSwapped:
      return swapped_;
    default:
      return waiting_;
  }
}

void Scheduler::check_consistency() const {
  auto fail = [](const std::string& what) {
    throw Error("Scheduler: " + what, ErrorKind::kInternal);
  };
  kv_.check_consistency();
  if (running_.size() + waiting_.size() + swapped_.size() != ids_.size())
    fail(fmt::format("{} requests but {} running + {} waiting + {} swapped", ids_.size(),
                     running_.size(), waiting_.size(), swapped_.size()));
  if (static_cast<int>(running_.size()) > config_.max_num_seqs)
    fail(
        fmt::format("{} running requests, max_num_seqs {}", running_.size(), config_.max_num_seqs));
  auto check_queue = [&](const Queue& q, RequestStatus status) {
    for (std::size_t i = 0; i < q.size(); ++i) {
      const Request& r = *q[i];
      auto it = ids_.find(r.spec.id);
      if (it == ids_.end() || it->second != r.handle ||
          slots_[static_cast<std::size_t>(r.handle)].get() != &r)
        fail(fmt::format("queued request '{}' is not owned", r.spec.id));
      if (r.status != status)
        fail(fmt::format("request '{}' is {} in the {} queue", r.spec.id, to_string(r.status),
                         to_string(status)));
      if (i > 0 && serve_before(r, *q[i - 1], config_.policy))
        fail(fmt::format("{} queue out of order at '{}'", to_string(status), r.spec.id));
      if (r.num_computed_tokens < 0 || r.num_computed_tokens >= r.num_tokens())
        fail(fmt::format("request '{}' computed {} of {} tokens", r.spec.id, r.num_computed_tokens,
                         r.num_tokens()));
      const int bs = kv_.block_size();
      switch (status) {
        case RequestStatus::kRunning:
          if (kv_.is_swapped(r.spec.id) ||
              kv_.num_blocks_held(r.spec.id) * bs < r.num_computed_tokens)
            fail(fmt::format("running request '{}' lacks blocks for its computed tokens",
                             r.spec.id));
          if (r.num_blocks_sent > kv_.num_blocks_held(r.spec.id))
            fail(fmt::format("running request '{}': the runner was sent {} blocks, it holds {}",
                             r.spec.id, r.num_blocks_sent, kv_.num_blocks_held(r.spec.id)));
          break;
        case RequestStatus::kWaiting:
          if (kv_.has(r.spec.id) || r.num_computed_tokens != 0 || r.num_blocks_sent != 0)
            fail(fmt::format("waiting request '{}' holds blocks or progress", r.spec.id));
          break;
        case RequestStatus::kSwapped:
          if (!kv_.is_swapped(r.spec.id) ||
              static_cast<int>(kv_.host_block_table(r.spec.id).size()) * bs < r.num_computed_tokens)
            fail(fmt::format("swapped request '{}' lacks host blocks", r.spec.id));
          break;
        default:
          fail("bad status");
      }
    }
  };
  check_queue(running_, RequestStatus::kRunning);
  check_queue(waiting_, RequestStatus::kWaiting);
  check_queue(swapped_, RequestStatus::kSwapped);
}

}  // namespace tessera::sched
