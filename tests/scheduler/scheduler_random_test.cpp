// Randomized scheduler runs: many seeds over random request mixes (shared prefixes, random
// lengths, max_tokens, priorities, aborts, late arrivals) with tiny KV caches that force
// preemption, in every preemption mode, policy, chunk budget and caching setting. After EVERY
// step: bookkeeping invariants, budget and max_num_seqs limits, FakeRunner contents (each
// scheduled request's blocks hold exactly its history), resumption only with the whole
// context, and under FCFS the oldest unfinished request is scheduled (no starvation).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "common/check.h"
#include "fake_runner.h"
#include "scheduler/scheduler.h"

namespace tessera::sched {
namespace {

constexpr TokenId kEos = 0;
constexpr TokenId kStopToken = 1;
constexpr TokenId kVocab = 40;

struct Mix {
  std::uint32_t seed = 0;
  PreemptionMode mode = PreemptionMode::kAuto;
  bool chunked = true;
  int budget = 64;
  SchedulingPolicy policy = SchedulingPolicy::kFcfs;
  bool caching = true;
  bool weak_hash = false;
};

std::string describe(const Mix& m) {
  return fmt::format("seed {} mode {} chunked {} budget {} policy {} caching {} weak_hash {}",
                     m.seed, to_string(m.mode), m.chunked, m.budget, to_string(m.policy), m.caching,
                     m.weak_hash);
}

class RandomRun {
 public:
  explicit RandomRun(const Mix& mix) : mix_(mix), rng_(mix.seed) {
    block_size_ = pick({1, 2, 4, 16});
    SchedulerConfig c;
    c.max_num_batched_tokens = mix.budget;
    c.max_model_len = mix.chunked ? 96 : mix.budget;
    c.max_num_seqs = pick({1, 3, 4, 8, 64, 64});
    c.enable_chunked_prefill = mix.chunked;
    c.policy = mix.policy;
    c.preemption_mode = mix.mode;
    kv::KvCacheConfig k;
    k.block_size = block_size_;
    // Tiny: a little more than one maximal request, so preemption is frequent.
    k.num_blocks = (c.max_model_len + block_size_ - 1) / block_size_ + uniform(0, 3);
    k.num_host_blocks = mix.mode == PreemptionMode::kRecompute ? 0 : uniform(0, 2 * k.num_blocks);
    k.enable_prefix_caching = mix.caching;
    if (mix.weak_hash) {
      k.hash_fn = [](kv::BlockHash parent, std::span<const TokenId> t) {
        kv::BlockHash h = parent & 3;
        for (TokenId x : t) h += static_cast<kv::BlockHash>(x) & 1;
        return h;
      };
    }
    config_ = c;
    kv_config_ = k;
    sched_ = std::make_unique<Scheduler>(c, k);
    runner_ = std::make_unique<testing::FakeRunner>(k.num_blocks, k.num_host_blocks, block_size_);
    if (mix.mode == PreemptionMode::kAuto) {
      // Random costs so that both choices happen.
      sched_->set_cost_model(
          {1000.0 * uniform(1, 10), 1000.0 * uniform(1, 10), 10.0 * uniform(1, 10)});
    }
    for (int i = 0; i < 3; ++i) {
      int len = uniform(1, std::max(1, c.max_model_len / 2));
      // Whole-block prefixes make whole-prompt hits, hence copy-on-write, likely.
      if (i > 0 && len >= block_size_) len -= len % block_size_;
      prefixes_.push_back(random_tokens(len));
    }
  }

  void run() {
    const int num_requests = uniform(5, 40);
    int added = 0;
    int steps = 0;
    long long work = 0;
    while (added < num_requests || sched_->has_unfinished()) {
      if (added < num_requests && uniform(0, 2) == 0) {
        int n = uniform(1, 3);
        for (int i = 0; i < n && added < num_requests; ++i, ++added)
          work += add_random_request(added);
      } else if (added < num_requests && !sched_->has_unfinished()) {
        work += add_random_request(added++);
      }
      maybe_abort();
      step();
      if (::testing::Test::HasFatalFailure()) return;
      ++steps;
      // Bounded steps: recomputation at most repeats each request's work a few times over.
      ASSERT_LT(steps, 50 * work + 1000) << "no progress";
    }
    EXPECT_EQ(sched_->kv_cache().pool().num_free_blocks(), kv_config_.num_blocks);
    EXPECT_EQ(sched_->kv_cache().swap_space().num_free_blocks(), kv_config_.num_host_blocks);
    for (BlockId b = 0; b < kv_config_.num_blocks; ++b)
      EXPECT_EQ(sched_->kv_cache().pool().ref_count(b), 0);
    auto m = sched_->metrics();
    EXPECT_EQ(m.num_running + m.num_waiting + m.num_swapped, 0);
    EXPECT_EQ(m.kv_usage, 0.0);
    if (mix_.mode == PreemptionMode::kRecompute) {
      EXPECT_EQ(m.preemptions_swap, 0u);
    }
    if (kv_config_.num_host_blocks == 0) {
      EXPECT_EQ(m.swapped_out_blocks, 0u);
    }
    EXPECT_EQ(m.swapped_in_blocks + swapped_blocks_dropped_, m.swapped_out_blocks);
    EXPECT_LE(m.prefix_cache_hits, m.prefix_cache_queries);
    if (!mix_.caching) {
      EXPECT_EQ(m.prefix_cache_hits, 0u);
    }
    total_preemptions_ = m.preemptions_swap + m.preemptions_recompute;
  }

  std::uint64_t total_preemptions_ = 0;

 private:
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  int pick(std::initializer_list<int> v) {
    return *(v.begin() + uniform(0, static_cast<int>(v.size()) - 1));
  }
  std::vector<TokenId> random_tokens(int n) {
    std::vector<TokenId> t(static_cast<std::size_t>(n));
    for (auto& x : t) x = uniform(2, kVocab - 1);
    return t;
  }

  // Returns the tokens of work the request represents (0 if rejected).
  int add_random_request(int index) {
    NewRequest r;
    r.id = "r" + std::to_string(index);
    const int max_prompt = std::max(1, config_.max_model_len - 1);
    const int kind = uniform(0, 5);
    if (kind == 0) {
      r.prompt_token_ids = prefixes_[static_cast<std::size_t>(uniform(0, 2))];
    } else if (kind == 1 && !prompts_.empty()) {
      r.prompt_token_ids =
          prompts_[static_cast<std::size_t>(uniform(0, static_cast<int>(prompts_.size()) - 1))];
    } else {
      if (kind <= 3) r.prompt_token_ids = prefixes_[static_cast<std::size_t>(uniform(0, 2))];
      auto tail = random_tokens(uniform(1, max_prompt));
      r.prompt_token_ids.insert(r.prompt_token_ids.end(), tail.begin(), tail.end());
    }
    if (static_cast<int>(r.prompt_token_ids.size()) > max_prompt)
      r.prompt_token_ids.resize(static_cast<std::size_t>(max_prompt));
    const int prompt = static_cast<int>(r.prompt_token_ids.size());
    r.max_tokens = uniform(0, 9) == 0 ? config_.max_model_len
                                      : uniform(1, std::max(1, config_.max_model_len - prompt));
    r.ignore_eos = uniform(0, 1) == 0;
    r.eos_token_ids = {kEos};
    if (uniform(0, 2) == 0) r.stop_token_ids = {kStopToken};
    r.min_tokens = uniform(0, 3) == 0 ? uniform(0, r.max_tokens) : 0;
    r.priority = uniform(0, 3);
    const int total = static_cast<int>(r.prompt_token_ids.size()) + r.max_tokens;
    const bool fits =
        total <= config_.max_model_len && total <= kv_config_.num_blocks * kv_config_.block_size;
    if (!fits) {
      const int before = sched_->num_unfinished();
      EXPECT_THROW(sched_->add_request(r), Error);
      EXPECT_EQ(sched_->num_unfinished(), before);
      return 0;
    }
    prompts_.push_back(r.prompt_token_ids);
    sched_->add_request(r);
    arrivals_.push_back(r.id);
    specs_[r.id] = r;
    unfinished_.insert(r.id);
    return total;
  }

  void maybe_abort() {
    if (unfinished_.empty() || uniform(0, 40) != 0) return;
    auto it = unfinished_.begin();
    std::advance(it, uniform(0, static_cast<int>(unfinished_.size()) - 1));
    const RequestId id = *it;
    const Request* r = sched_->find(id);
    ASSERT_NE(r, nullptr);
    if (r->status == RequestStatus::kSwapped) swapped_blocks_dropped_ += host_blocks(id);
    EXPECT_TRUE(sched_->abort(id));
    EXPECT_FALSE(sched_->abort(id));
    unfinished_.erase(id);
    preempted_.erase(id);
    sched_->check_consistency();
  }

  std::uint64_t host_blocks(const RequestId& id) const {
    return sched_->kv_cache().host_block_table(id).size();
  }

  void step() {
    SchedulerOutput out = sched_->schedule();
    SCOPED_TRACE(fmt::format("step {}", out.step));
    sched_->check_consistency();

    // Limits.
    int sum = 0;
    std::set<RequestId> ids;
    for (const auto& s : out.scheduled) {
      sum += s.num_tokens;
      ASSERT_GT(s.num_tokens, 0);
      ASSERT_TRUE(ids.insert(s.id).second) << "scheduled twice: " << s.id;
      ASSERT_TRUE(mix_.chunked || s.needs_logits) << "chunk without chunked prefill";
    }
    ASSERT_EQ(sum, out.num_batched_tokens);
    ASSERT_LE(sum, config_.max_num_batched_tokens);
    ASSERT_LE(static_cast<int>(out.scheduled.size()), config_.max_num_seqs);

    // A preempted request comes back only with blocks for its whole context.
    for (const RequestId& id : out.preempted) {
      ASSERT_EQ(ids.count(id), 0u) << "preempted and scheduled in one step";
      preempted_.insert(id);
    }
    for (const auto& s : out.scheduled) {
      if (preempted_.erase(s.id) == 0) continue;
      const Request* r = sched_->find(s.id);
      ASSERT_GE(static_cast<int>(sched_->kv_cache().block_table(s.id).size()) * block_size_,
                r->num_tokens())
          << s.id << " resumed without room for its whole context";
    }

    // FCFS: the oldest unfinished request always makes progress.
    if (mix_.policy == SchedulingPolicy::kFcfs && !unfinished_.empty()) {
      auto oldest = std::find_if(arrivals_.begin(), arrivals_.end(),
                                 [&](const RequestId& id) { return unfinished_.count(id) != 0; });
      ASSERT_NE(oldest, arrivals_.end());
      ASSERT_EQ(ids.count(*oldest), 1u) << "oldest request " << *oldest << " not scheduled";
    }

    std::string err = runner_->apply(out, *sched_);
    ASSERT_EQ(err, "");

    std::vector<SampledToken> sampled;
    for (const auto& s : out.scheduled) {
      if (!s.needs_logits) continue;
      // Sometimes repeat a prompt token so that outputs form shared blocks too.
      TokenId t = uniform(0, 9) == 0 ? 0 : uniform(0, 4) == 0 ? 1 : uniform(2, kVocab - 1);
      sampled.push_back({s.handle, t});
    }
    if (out.scheduled.empty()) {
      ASSERT_TRUE(sampled.empty());
      return;
    }
    auto updates = sched_->update(out, sampled);
    sched_->check_consistency();
    ASSERT_EQ(updates.size(), sampled.size());
    for (const auto& u : updates) {
      if (u.finish_reason == FinishReason::kNone) continue;
      const NewRequest& spec = specs_.at(u.id);
      ASSERT_EQ(sched_->find(u.id), nullptr);
      unfinished_.erase(u.id);
      outputs_done_.push_back(u.id);
      if (u.finish_reason == FinishReason::kStop) {
        ASSERT_TRUE((u.token == kEos && !spec.ignore_eos) ||
                    (u.token == kStopToken && !spec.stop_token_ids.empty()));
      }
    }
  }

  Mix mix_;
  std::mt19937 rng_;
  int block_size_ = 16;
  SchedulerConfig config_;
  kv::KvCacheConfig kv_config_;
  std::unique_ptr<Scheduler> sched_;
  std::unique_ptr<testing::FakeRunner> runner_;
  std::vector<std::vector<TokenId>> prefixes_;
  std::vector<std::vector<TokenId>> prompts_;
  std::vector<RequestId> arrivals_;
  std::map<RequestId, NewRequest> specs_;
  std::set<RequestId> unfinished_;
  std::set<RequestId> preempted_;
  std::vector<RequestId> outputs_done_;
  std::uint64_t swapped_blocks_dropped_ = 0;
};

TEST(SchedulerRandom, InvariantsHoldAfterEveryStep) {
  const PreemptionMode modes[] = {PreemptionMode::kSwap, PreemptionMode::kRecompute,
                                  PreemptionMode::kAuto};
  const int budgets[] = {1, 7, 64};
  std::uint64_t preemptions = 0;
  std::uint32_t seed = 0;
  for (int round = 0; round < 4; ++round) {
    for (PreemptionMode mode : modes) {
      for (bool chunked : {true, false}) {
        for (int budget : budgets) {
          if (!chunked && budget == 1) continue;  // max_model_len 1 leaves no valid request
          for (auto policy : {SchedulingPolicy::kFcfs, SchedulingPolicy::kPriority}) {
            for (bool caching : {true, false}) {
              Mix mix{seed++, mode, chunked, budget, policy, caching, caching && round % 2 == 1};
              SCOPED_TRACE(describe(mix));
              RandomRun run(mix);
              run.run();
              if (::testing::Test::HasFailure()) return;
              preemptions += run.total_preemptions_;
            }
          }
        }
      }
    }
  }
  // The KV caches are tiny on purpose: the runs must have exercised preemption.
  EXPECT_GT(preemptions, 100u);
}

}  // namespace
}  // namespace tessera::sched
