// Scheduler implementation; see scheduler.h for the step algorithm.
#include "scheduler/scheduler.h"

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "common/check.h"

namespace tessera::sched {

namespace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Scheduler::Scheduler(SchedulerConfig config, kv::KvCacheConfig kv_config)
    : config_((config.validate(), config)), kv_(std::move(kv_config)), clock_(&steady_seconds) {}

void Scheduler::add_request(NewRequest req) {
  TSR_CHECK(!req.id.empty(), "request id must not be empty");
  TSR_CHECK(requests_.count(req.id) == 0, "request id '{}' is already in use", req.id);
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
  requests_.emplace(raw->spec.id, std::move(r));
  insert_sorted(waiting_, raw);
}

bool Scheduler::finish(const RequestId& id, FinishReason reason) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return false;
  finish_request(*it->second, reason);
  return true;
}

void Scheduler::finish_request(Request& r, FinishReason reason) {
  remove_from(queue_of(r), &r);
  kv_.free(r.spec.id);
  r.status = RequestStatus::kFinished;
  r.finish_reason = reason;
  finished_since_plan_.push_back(r.spec.id);
  requests_.erase(r.spec.id);  // destroys r
}

SchedulerOutput Scheduler::schedule() {
  TSR_CHECK_KIND(!awaiting_update_, ErrorKind::kInternal,
                 "schedule() called before update() of step {}", step_);
  SchedulerOutput out;
  out.step = ++step_;
  ++counters_.num_steps;
  out.finished = std::move(finished_since_plan_);
  finished_since_plan_.clear();
  kv::KvPlan plan;
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

  out.new_blocks = std::move(plan.new_blocks);
  out.copies = std::move(plan.copies);
  out.swap_out = std::move(plan.swap_out);
  out.swap_in = std::move(plan.swap_in);
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

void Scheduler::emit(Request& r, int num_tokens, SchedulerOutput& out) {
  ScheduledRequest s;
  s.id = r.spec.id;
  s.start_position = r.num_computed_tokens;
  s.num_tokens = num_tokens;
  auto first = r.token_ids.begin() + r.num_computed_tokens;
  s.token_ids.assign(first, first + num_tokens);
  s.block_table = kv_.block_table(r.spec.id);
  s.needs_logits = r.num_computed_tokens + num_tokens == r.num_tokens();
  out.num_batched_tokens += num_tokens;
  out.scheduled.push_back(std::move(s));
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
  remove_from(swapped_, &r);
  r.status = RequestStatus::kRunning;
  insert_sorted(running_, &r);
  emit(r, num_new, out);
  return true;
}

std::vector<RequestUpdate> Scheduler::update(const SchedulerOutput& plan,
                                             std::span<const SampledToken> sampled) {
  TSR_CHECK_KIND(awaiting_update_ && plan.step == step_, ErrorKind::kInternal,
                 "update() for step {} but the pending step is {}", plan.step,
                 awaiting_update_ ? step_ : 0);
  std::unordered_map<RequestId, TokenId> tokens;
  for (const SampledToken& s : sampled) {
    TSR_CHECK_KIND(tokens.emplace(s.id, s.token).second, ErrorKind::kInternal,
                   "two sampled tokens for request '{}'", s.id);
  }
  std::unordered_set<RequestId> expecting;
  for (const ScheduledRequest& s : plan.scheduled)
    if (s.needs_logits) expecting.insert(s.id);
  for (const auto& [id, token] : tokens) {
    TSR_CHECK_KIND(expecting.count(id) != 0, ErrorKind::kInternal,
                   "sampled token for request '{}', which did not need logits in step {}", id,
                   plan.step);
  }
  awaiting_update_ = false;

  std::vector<RequestUpdate> updates;
  for (const ScheduledRequest& s : plan.scheduled) {
    auto it = requests_.find(s.id);
    if (it == requests_.end()) continue;  // aborted or finished after the plan was made
    Request& r = *it->second;
    TSR_CHECK_KIND(r.status == RequestStatus::kRunning && r.num_computed_tokens == s.start_position,
                   ErrorKind::kInternal, "request '{}' changed between schedule() and update()",
                   s.id);
    r.num_computed_tokens += s.num_tokens;
    if (!s.needs_logits) {
      kv_.cache_full_blocks(r.spec.id, r.token_ids, r.num_computed_tokens);
      continue;
    }
    auto tok = tokens.find(s.id);
    TSR_CHECK_KIND(tok != tokens.end(), ErrorKind::kInternal,
                   "no sampled token for request '{}' in step {}", s.id, plan.step);
    FinishReason reason = r.append_and_check_stop(tok->second, config_.max_model_len);
    kv_.cache_full_blocks(r.spec.id, r.token_ids, r.num_computed_tokens);
    updates.push_back({s.id, tok->second, reason});
    if (reason != FinishReason::kNone) finish_request(r, reason);
  }
  return updates;
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
  auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : it->second.get();
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
  if (running_.size() + waiting_.size() + swapped_.size() != requests_.size())
    fail(fmt::format("{} requests but {} running + {} waiting + {} swapped", requests_.size(),
                     running_.size(), waiting_.size(), swapped_.size()));
  if (static_cast<int>(running_.size()) > config_.max_num_seqs)
    fail(
        fmt::format("{} running requests, max_num_seqs {}", running_.size(), config_.max_num_seqs));
  auto check_queue = [&](const Queue& q, RequestStatus status) {
    for (std::size_t i = 0; i < q.size(); ++i) {
      const Request& r = *q[i];
      auto it = requests_.find(r.spec.id);
      if (it == requests_.end() || it->second.get() != &r)
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
          break;
        case RequestStatus::kWaiting:
          if (kv_.has(r.spec.id) || r.num_computed_tokens != 0)
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
