// Focused scheduler tests: admission errors, the basic step cycle, chunked prefill, stop
// conditions, priority order, prefix hits and copy-on-write, preemption by swap / recompute /
// auto, aborts in every state, and misuse of update().
#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <numeric>

#include "common/check.h"
#include "fake_runner.h"

namespace tessera::sched {
namespace {

std::vector<TokenId> seq(int n, TokenId start = 100) {
  std::vector<TokenId> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

NewRequest make(const std::string& id, std::vector<TokenId> prompt, int max_tokens,
                int priority = 0) {
  NewRequest r;
  r.id = id;
  r.prompt_token_ids = std::move(prompt);
  r.max_tokens = max_tokens;
  r.eos_token_ids = {0};
  r.priority = priority;
  return r;
}

struct Config {
  SchedulerConfig cfg;
  kv::KvCacheConfig kv;
  explicit Config(int num_blocks, int block_size = 4) {
    cfg.max_num_batched_tokens = 64;
    cfg.max_model_len = 64;
    kv.num_blocks = num_blocks;
    kv.block_size = block_size;
  }
};

// Drives a scheduler with a FakeRunner; every sampled token is `token` unless overridden.
class Driver {
 public:
  explicit Driver(const Config& s)
      : sched(s.cfg, s.kv), runner(s.kv.num_blocks, s.kv.num_host_blocks, s.kv.block_size) {}

  SchedulerOutput step(TokenId token = 7) {
    SchedulerOutput out = sched.schedule();
    EXPECT_EQ(runner.apply(out, sched), "");
    std::vector<SampledToken> sampled;
    for (const auto& s : out.scheduled)
      if (s.needs_logits) sampled.push_back({s.handle, token});
    if (!out.scheduled.empty()) {
      const auto updates = sched.update(out, sampled);
      last_updates.assign(updates.begin(), updates.end());
    }
    sched.check_consistency();
    return out;
  }

  const ScheduledRequest* find(const SchedulerOutput& out, const std::string& id) {
    for (const auto& s : out.scheduled)
      if (s.id == id) return &s;
    return nullptr;
  }
  // A request's whole block table now (what the runner's patched copy must equal).
  const std::vector<BlockId>& table(const ScheduledRequest& s) const {
    return sched.kv_cache().block_table(s.id);
  }

  Scheduler sched;
  testing::FakeRunner runner;
  std::vector<RequestUpdate> last_updates;
};

std::string error_of(Scheduler& s, NewRequest r) {
  try {
    s.add_request(std::move(r));
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    return e.what();
  }
  return "";
}

TEST(Scheduler, AdmissionRejectsRequestsThatCanNeverRun) {
  Config s(4);  // 16 tokens of KV
  s.cfg.max_model_len = 32;
  Scheduler sched(s.cfg, s.kv);
  EXPECT_NE(error_of(sched, make("a", {}, 4)).find("prompt is empty"), std::string::npos);
  EXPECT_NE(error_of(sched, make("a", seq(3), 0)).find("max_tokens must be >= 1"),
            std::string::npos);
  std::string len = error_of(sched, make("a", seq(30), 3));
  EXPECT_NE(len.find("33 tokens exceeds the maximum context length of 32"), std::string::npos)
      << len;
  std::string cap = error_of(sched, make("a", seq(10), 7));
  EXPECT_NE(cap.find("exceeds the KV cache capacity of 16 tokens (4 blocks of 4)"),
            std::string::npos)
      << cap;
  EXPECT_EQ(sched.num_unfinished(), 0);
  sched.add_request(make("a", seq(10), 6));
  EXPECT_NE(error_of(sched, make("a", seq(3), 1)).find("already in use"), std::string::npos);
  NewRequest bad_min = make("b", seq(3), 2);
  bad_min.min_tokens = 3;
  EXPECT_NE(error_of(sched, bad_min).find("min_tokens"), std::string::npos);
  EXPECT_EQ(sched.num_unfinished(), 1);
  sched.check_consistency();
}

TEST(SchedulerConfig, ValidatesAndParses) {
  SchedulerConfig c;
  c.enable_chunked_prefill = false;
  c.max_num_batched_tokens = 100;
  c.max_model_len = 200;
  EXPECT_THROW(c.validate(), Error);
  c.enable_chunked_prefill = true;
  EXPECT_NO_THROW(c.validate());
  c.max_num_seqs = 0;
  EXPECT_THROW(c.validate(), Error);
  EXPECT_EQ(parse_preemption_mode("swap"), PreemptionMode::kSwap);
  EXPECT_EQ(parse_preemption_mode("auto"), PreemptionMode::kAuto);
  EXPECT_EQ(parse_scheduling_policy("priority"), SchedulingPolicy::kPriority);
  EXPECT_THROW(parse_preemption_mode("sometimes"), Error);
  EXPECT_THROW(parse_scheduling_policy("lifo"), Error);
}

TEST(Scheduler, PrefillThenDecodeUntilMaxTokens) {
  Config s(8);
  Driver d(s);
  d.sched.add_request(make("a", seq(5), 3));
  auto out = d.step();
  ASSERT_EQ(out.scheduled.size(), 1u);
  EXPECT_EQ(out.scheduled[0].start_position, 0);
  EXPECT_EQ(out.scheduled[0].num_tokens, 5);
  EXPECT_TRUE(out.scheduled[0].needs_logits);
  EXPECT_EQ(d.table(out.scheduled[0]).size(), 2u);
  EXPECT_EQ(out.new_blocks.size(), 2u);
  // First scheduled: the whole table is new.
  EXPECT_EQ(out.scheduled[0].num_kept_blocks, 0);
  EXPECT_EQ(out.scheduled[0].new_block_ids, d.table(out.scheduled[0]));
  out = d.step();
  EXPECT_EQ(out.scheduled[0].start_position, 5);
  EXPECT_EQ(out.scheduled[0].num_tokens, 1);
  EXPECT_EQ(out.scheduled[0].token_ids, (std::vector<TokenId>{7}));
  // A decode step's delta: the blocks before the one it writes are kept, that one is resent.
  EXPECT_EQ(out.scheduled[0].num_kept_blocks, 1);
  EXPECT_EQ(out.scheduled[0].new_block_ids, (std::vector<BlockId>{d.table(out.scheduled[0])[1]}));
  out = d.step();
  ASSERT_EQ(d.last_updates.size(), 1u);
  EXPECT_EQ(d.last_updates[0].finish_reason, FinishReason::kLength);
  EXPECT_EQ(d.sched.find("a"), nullptr);
  EXPECT_FALSE(d.sched.has_unfinished());
  out = d.sched.schedule();
  EXPECT_EQ(out.finished, (std::vector<RequestId>{"a"}));
  EXPECT_TRUE(out.scheduled.empty());
  EXPECT_EQ(d.sched.kv_cache().pool().num_free_blocks(), 8);
}

TEST(Scheduler, ChunkedPrefillSharesStepsWithDecodes) {
  Config s(16);
  s.cfg.max_num_batched_tokens = 4;
  Driver d(s);
  d.sched.add_request(make("a", seq(2), 10));
  d.step();  // a's prefill
  d.sched.add_request(make("b", seq(10, 300), 2));
  std::vector<int> chunks;
  for (int i = 0; i < 4; ++i) {
    auto out = d.step();
    ASSERT_EQ(out.scheduled[0].id, "a");  // running decode first
    EXPECT_EQ(out.scheduled[0].num_tokens, 1);
    const ScheduledRequest* b = d.find(out, "b");
    ASSERT_NE(b, nullptr);
    chunks.push_back(b->num_tokens);
    EXPECT_EQ(b->needs_logits, b->start_position + b->num_tokens == 10);
    EXPECT_LE(out.num_batched_tokens, 4);
  }
  EXPECT_EQ(chunks, (std::vector<int>{3, 3, 3, 1}));  // the last one is b's first decode
}

TEST(Scheduler, WithoutChunkedPrefillPromptsRunWhole) {
  Config s(16);
  s.cfg.enable_chunked_prefill = false;
  s.cfg.max_num_batched_tokens = 10;
  s.cfg.max_model_len = 10;
  Driver d(s);
  d.sched.add_request(make("a", seq(6), 3));
  d.sched.add_request(make("b", seq(6, 200), 3));
  auto out = d.step();
  ASSERT_EQ(out.scheduled.size(), 1u);  // b does not fit whole next to a
  out = d.step();
  ASSERT_EQ(out.scheduled.size(), 2u);
  EXPECT_EQ(out.scheduled[1].id, "b");
  EXPECT_EQ(out.scheduled[1].num_tokens, 6);
  EXPECT_EQ(out.num_batched_tokens, 7);
}

TEST(Scheduler, StopConditions) {
  Config s(16);
  Driver d(s);
  NewRequest eos = make("eos", seq(3), 10);
  NewRequest ignore = make("ignore", seq(3, 50), 2);
  ignore.ignore_eos = true;
  NewRequest stop = make("stop", seq(3, 60), 10);
  stop.eos_token_ids.clear();
  stop.stop_token_ids = {0};
  NewRequest min = make("min", seq(3, 70), 10);
  min.min_tokens = 2;
  for (auto* r : {&eos, &ignore, &stop, &min}) d.sched.add_request(*r);
  d.step(0);
  std::map<std::string, FinishReason> reasons;
  for (const auto& u : d.last_updates) reasons[u.id] = u.finish_reason;
  EXPECT_EQ(reasons["eos"], FinishReason::kStop);
  EXPECT_EQ(reasons["stop"], FinishReason::kStop);
  EXPECT_EQ(reasons["ignore"], FinishReason::kNone);
  EXPECT_EQ(reasons["min"], FinishReason::kNone);
  d.step(0);
  reasons.clear();
  for (const auto& u : d.last_updates) reasons[u.id] = u.finish_reason;
  EXPECT_EQ(reasons["ignore"], FinishReason::kLength);
  EXPECT_EQ(reasons["min"], FinishReason::kStop);
  EXPECT_FALSE(d.sched.has_unfinished());
  // A stop string found by the engine.
  d.sched.add_request(make("s", seq(3), 10));
  d.step();
  EXPECT_TRUE(d.sched.finish("s", FinishReason::kStop));
  EXPECT_EQ(d.sched.schedule().finished, (std::vector<RequestId>{"s"}));
}

std::vector<std::string> admission_order(SchedulingPolicy policy) {
  Config s(16);
  s.cfg.max_num_seqs = 1;
  s.cfg.policy = policy;
  Driver d(s);
  d.sched.add_request(make("p2", seq(3), 1, 2));
  d.sched.add_request(make("p0", seq(3), 1, 0));
  d.sched.add_request(make("p1a", seq(3), 1, 1));
  d.sched.add_request(make("p1b", seq(3), 1, 1));
  std::vector<std::string> order;
  while (d.sched.has_unfinished()) {
    auto out = d.step();
    EXPECT_EQ(out.scheduled.size(), 1u);
    order.push_back(out.scheduled[0].id);
  }
  return order;
}

TEST(Scheduler, PriorityOrderThenArrival) {
  EXPECT_EQ(admission_order(SchedulingPolicy::kPriority),
            (std::vector<std::string>{"p0", "p1a", "p1b", "p2"}));
  EXPECT_EQ(admission_order(SchedulingPolicy::kFcfs),
            (std::vector<std::string>{"p2", "p0", "p1a", "p1b"}));
}

TEST(Scheduler, PrefixHitReusesBlocksAndCountsHits) {
  Config s(16);
  Driver d(s);
  d.sched.add_request(make("a", seq(8), 5));
  auto out = d.step();
  const auto a_table = d.table(out.scheduled[0]);
  auto prompt_b = seq(8);
  prompt_b.push_back(1);
  prompt_b.push_back(2);
  d.sched.add_request(make("b", prompt_b, 2));
  out = d.step();
  const ScheduledRequest* b = d.find(out, "b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->start_position, 8);
  EXPECT_EQ(b->num_tokens, 2);
  EXPECT_EQ(d.table(*b)[0], a_table[0]);
  EXPECT_EQ(d.table(*b)[1], a_table[1]);
  auto m = d.sched.metrics();
  EXPECT_EQ(m.prefix_cache_queries, 18u);
  EXPECT_EQ(m.prefix_cache_hits, 8u);
}

TEST(Scheduler, WholePromptHitRecomputesLastTokenWithCopyOnWrite) {
  Config s(16);
  Driver d(s);
  d.sched.add_request(make("a", seq(8), 5));
  d.step();
  d.sched.add_request(make("b", seq(8), 5));
  auto out = d.step();
  const ScheduledRequest* b = d.find(out, "b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->start_position, 7);
  EXPECT_EQ(b->num_tokens, 1);
  EXPECT_TRUE(b->needs_logits);
  ASSERT_EQ(out.copies.size(), 1u);
  const ScheduledRequest* a = d.find(out, "a");
  EXPECT_EQ(out.copies[0].src, d.table(*a)[1]);
  EXPECT_EQ(out.copies[0].dst, d.table(*b)[1]);
  EXPECT_EQ(d.table(*b)[0], d.table(*a)[0]);
  EXPECT_EQ(d.sched.metrics().prefix_cache_hits, 7u);
}

TEST(Scheduler, PromptThatIsAPrefixOfARunningRequestCopiesOnWrite) {
  for (int bs : {1, 2, 4}) {
    Config s(64, bs);
    Driver d(s);
    d.sched.add_request(make("x", seq(12), 5));
    d.step();
    d.sched.add_request(make("y", seq(8), 5));
    auto out = d.step();
    const ScheduledRequest* y = d.find(out, "y");
    ASSERT_NE(y, nullptr);
    EXPECT_EQ(y->start_position, 7) << bs;
    // With one-token blocks the last token gets a fresh block; no copy is needed.
    EXPECT_EQ(out.copies.size(), bs == 1 ? 0u : 1u) << bs;
    d.step();
    d.sched.check_consistency();
  }
}

// Two requests that together need more than the cache: b (later) is preempted.
Config pressure(PreemptionMode mode, int host_blocks) {
  Config s(6);  // 24 tokens
  s.cfg.preemption_mode = mode;
  s.kv.num_host_blocks = host_blocks;
  return s;
}

void run_to_end(Driver& d, std::vector<SchedulerOutput>* outs) {
  for (int i = 0; i < 200 && d.sched.has_unfinished(); ++i) outs->push_back(d.step());
  EXPECT_FALSE(d.sched.has_unfinished());
}

TEST(Scheduler, RecomputePreemptionRequeuesAndResumesWithWholeContext) {
  Driver d(pressure(PreemptionMode::kRecompute, 8));
  d.sched.add_request(make("a", seq(6), 14));
  d.sched.add_request(make("b", seq(6, 50), 14));
  std::vector<SchedulerOutput> outs;
  run_to_end(d, &outs);
  bool preempted = false;
  bool resumed = false;
  for (const auto& o : outs) {
    if (!o.preempted.empty()) {
      EXPECT_EQ(o.preempted, (std::vector<RequestId>{"b"}));
      EXPECT_TRUE(o.swap_out.empty());
      preempted = true;
    } else if (preempted && !resumed && d.find(o, "b")) {
      resumed = true;
      const ScheduledRequest* b = d.find(o, "b");
      // Its prompt's full blocks may still be cached; the rest of the context is recomputed
      // in one go, into blocks reserved for the whole context.
      EXPECT_EQ(b->start_position % 4, 0);
      EXPECT_TRUE(b->needs_logits);
      // Back after a preemption: the plan sends the whole table afresh.
      EXPECT_EQ(b->num_kept_blocks, 0);
      EXPECT_GE(static_cast<int>(b->new_block_ids.size()) * 4, b->start_position + b->num_tokens);
    }
  }
  EXPECT_TRUE(preempted);
  EXPECT_TRUE(resumed);
  auto m = d.sched.metrics();
  EXPECT_GE(m.preemptions_recompute, 1u);
  EXPECT_EQ(m.preemptions_swap, 0u);
  EXPECT_GT(m.recomputed_tokens, 0u);
}

TEST(Scheduler, SwapPreemptionMovesBlocksOutAndBack) {
  Driver d(pressure(PreemptionMode::kSwap, 8));
  d.sched.add_request(make("a", seq(6), 14));
  d.sched.add_request(make("b", seq(6, 50), 14));
  std::vector<BlockId> b_table;
  std::vector<kv::BlockCopy> swapped_out;
  bool swapped_in = false;
  for (int i = 0; i < 200 && d.sched.has_unfinished(); ++i) {
    auto out = d.sched.schedule();
    if (!out.swap_out.empty()) {
      EXPECT_EQ(out.preempted, (std::vector<RequestId>{"b"}));
      ASSERT_EQ(out.swap_out.size(), b_table.size());
      for (std::size_t k = 0; k < b_table.size(); ++k) EXPECT_EQ(out.swap_out[k].src, b_table[k]);
      EXPECT_EQ(d.sched.kv_cache().host_block_table("b").size(), b_table.size());
      swapped_out = out.swap_out;
    }
    if (!out.swap_in.empty()) {
      ASSERT_EQ(out.swap_in.size(), swapped_out.size());
      const ScheduledRequest* b = d.find(out, "b");
      ASSERT_NE(b, nullptr);
      for (std::size_t k = 0; k < swapped_out.size(); ++k) {
        EXPECT_EQ(out.swap_in[k].src, swapped_out[k].dst);
        EXPECT_EQ(out.swap_in[k].dst, d.table(*b)[k]);
      }
      EXPECT_EQ(b->num_tokens, 1);  // decode resumes where it stopped
      swapped_in = true;
    }
    ASSERT_EQ(d.runner.apply(out, d.sched), "");
    if (const ScheduledRequest* b = d.find(out, "b")) b_table = d.table(*b);
    std::vector<SampledToken> sampled;
    for (const auto& s : out.scheduled)
      if (s.needs_logits) sampled.push_back({s.handle, 9});
    if (!out.scheduled.empty()) d.sched.update(out, sampled);
    d.sched.check_consistency();
  }
  EXPECT_FALSE(swapped_out.empty());
  EXPECT_TRUE(swapped_in);
  auto m = d.sched.metrics();
  EXPECT_EQ(m.preemptions_recompute, 0u);
  EXPECT_EQ(m.swapped_out_blocks, m.swapped_in_blocks);
  EXPECT_GT(m.swapped_out_blocks, 0u);
}

TEST(Scheduler, SwapFallsBackToRecomputeWhenSwapSpaceIsFull) {
  Driver d(pressure(PreemptionMode::kSwap, 1));
  d.sched.add_request(make("a", seq(6), 14));
  d.sched.add_request(make("b", seq(6, 50), 14));
  std::vector<SchedulerOutput> outs;
  run_to_end(d, &outs);
  auto m = d.sched.metrics();
  EXPECT_EQ(m.preemptions_swap, 0u);
  EXPECT_GE(m.preemptions_recompute, 1u);
}

TEST(PreemptionPolicy, AutoChoosesTheCheaperWay) {
  CostModel cost{1e6, 1e9, 1e3};  // swap 2 blocks: 4 ms; recompute 100 tokens: 100 ms
  EXPECT_EQ(choose_preemption_mode(PreemptionMode::kAuto, cost, 2, 100, true),
            PreemptionMode::kSwap);
  EXPECT_EQ(choose_preemption_mode(PreemptionMode::kAuto, cost, 2, 1, true),
            PreemptionMode::kRecompute);
  EXPECT_EQ(choose_preemption_mode(PreemptionMode::kAuto, cost, 2, 100, false),
            PreemptionMode::kRecompute);
  EXPECT_EQ(choose_preemption_mode(PreemptionMode::kAuto, CostModel{}, 2, 100, true),
            PreemptionMode::kRecompute);
  EXPECT_EQ(choose_preemption_mode(PreemptionMode::kSwap, CostModel{}, 2, 1, true),
            PreemptionMode::kSwap);
}

TEST(Scheduler, AutoModeUsesTheCostModel) {
  for (bool swap_cheap : {true, false}) {
    Driver d(pressure(PreemptionMode::kAuto, 8));
    d.sched.set_cost_model(swap_cheap ? CostModel{1, 1e12, 1} : CostModel{1e9, 1, 1e12});
    d.sched.add_request(make("a", seq(6), 14));
    d.sched.add_request(make("b", seq(6, 50), 14));
    std::vector<SchedulerOutput> outs;
    run_to_end(d, &outs);
    auto m = d.sched.metrics();
    EXPECT_EQ(m.preemptions_swap > 0, swap_cheap);
    EXPECT_EQ(m.preemptions_recompute > 0, !swap_cheap);
  }
}

TEST(Scheduler, AbortInEveryStateFreesEverything) {
  Driver d(pressure(PreemptionMode::kSwap, 8));
  d.sched.add_request(make("a", seq(6), 14));
  d.sched.add_request(make("b", seq(6, 50), 14));
  for (int i = 0; i < 200 && d.sched.find("b")->status != RequestStatus::kSwapped; ++i) {
    d.step();
    ASSERT_NE(d.sched.find("b"), nullptr);
  }
  ASSERT_EQ(d.sched.find("b")->status, RequestStatus::kSwapped);
  // Admission waits behind the swapped request.
  d.sched.add_request(make("w", seq(3, 90), 2));
  d.step();
  ASSERT_EQ(d.sched.find("w")->status, RequestStatus::kWaiting);
  EXPECT_TRUE(d.sched.abort("b"));
  EXPECT_TRUE(d.sched.abort("w"));
  EXPECT_FALSE(d.sched.abort("w"));
  EXPECT_FALSE(d.sched.abort("nope"));
  d.sched.check_consistency();
  EXPECT_EQ(d.sched.kv_cache().swap_space().num_free_blocks(), 8);
  // Abort between schedule() and update(): update() skips it.
  auto out = d.sched.schedule();
  EXPECT_EQ(out.finished, (std::vector<RequestId>{"b", "w"}));
  ASSERT_EQ(out.scheduled.size(), 1u);
  EXPECT_TRUE(d.sched.abort("a"));
  auto ups = d.sched.update(out, std::vector<SampledToken>{{out.scheduled[0].handle, 3}});
  EXPECT_TRUE(ups.empty());
  d.sched.check_consistency();
  EXPECT_EQ(d.sched.kv_cache().pool().num_free_blocks(), 6);
  EXPECT_EQ(d.sched.metrics().kv_usage, 0.0);
}

TEST(Scheduler, UpdateMisuseIsAnError) {
  Config s(16);
  s.cfg.max_num_batched_tokens = 4;
  Scheduler sched(s.cfg, s.kv);
  sched.add_request(make("a", seq(6), 3));
  auto out = sched.schedule();
  EXPECT_THROW(sched.schedule(), Error);
  ASSERT_FALSE(out.scheduled[0].needs_logits);  // first chunk of 4
  EXPECT_THROW(sched.update(out, std::vector<SampledToken>{{out.scheduled[0].handle, 1}}), Error);
  EXPECT_THROW(sched.update(out, std::vector<SampledToken>{{42, 1}}), Error);  // unknown handle
  sched.update(out, {});
  out = sched.schedule();
  ASSERT_TRUE(out.scheduled[0].needs_logits);
  EXPECT_THROW(sched.update(out, {}), Error);
}

}  // namespace
}  // namespace tessera::sched
