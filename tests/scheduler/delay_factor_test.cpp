// --scheduler-delay-factor (SchedulerConfig::delay_factor) on a fake clock: while requests
// run, a new prompt waits until the oldest waiting one has waited longer than delay_factor ×
// the latency of the last step that admitted a prompt (vLLM's _passed_delay).
#include <gtest/gtest.h>

#include <numeric>

#include "common/check.h"
#include "fake_runner.h"
#include "scheduler/scheduler.h"

namespace tessera::sched {
namespace {

NewRequest make(const std::string& id, int prompt_len, int max_tokens) {
  NewRequest r;
  r.id = id;
  r.prompt_token_ids.resize(static_cast<size_t>(prompt_len));
  std::iota(r.prompt_token_ids.begin(), r.prompt_token_ids.end(), 100);
  r.max_tokens = max_tokens;
  r.eos_token_ids = {0};
  return r;
}

class DelayDriver {
 public:
  explicit DelayDriver(double delay_factor)
      : sched(config(delay_factor), kv_config()), runner(64, 0, 4) {
    sched.set_clock([this] { return now; });
  }

  // One step at the current time; the ids it scheduled.
  std::vector<std::string> step() {
    SchedulerOutput out = sched.schedule();
    EXPECT_EQ(runner.apply(out, sched), "");
    std::vector<SampledToken> sampled;
    std::vector<std::string> ids;
    for (const auto& s : out.scheduled) {
      ids.push_back(s.id);
      if (s.needs_logits) sampled.push_back({s.handle, 7});
    }
    if (!out.scheduled.empty()) sched.update(out, sampled);
    sched.check_consistency();
    return ids;
  }

  double now = 0;
  Scheduler sched;
  testing::FakeRunner runner;

 private:
  static SchedulerConfig config(double delay_factor) {
    SchedulerConfig c;
    c.max_num_batched_tokens = 64;
    c.max_model_len = 64;
    c.delay_factor = delay_factor;
    return c;
  }
  static kv::KvCacheConfig kv_config() {
    kv::KvCacheConfig kv;
    kv.num_blocks = 64;
    kv.block_size = 4;
    return kv;
  }
};

bool has(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

TEST(SchedulerDelayFactor, NewPromptsWaitForTheDelayWhileRequestsRun) {
  DelayDriver d(1.0);
  d.sched.add_request(make("a", 8, 40));
  EXPECT_TRUE(has(d.step(), "a"));  // nothing runs: no delay
  d.now = 1.0;                      // that prompt step took 1 s
  d.sched.add_request(make("b", 8, 4));
  EXPECT_FALSE(has(d.step(), "b"));  // waited 0 s <= 1.0 × 1 s
  d.now = 1.5;
  EXPECT_FALSE(has(d.step(), "b"));  // 0.5 s
  d.now = 2.01;
  const auto ids = d.step();
  EXPECT_TRUE(has(ids, "b"));  // 1.01 s > 1 s
  EXPECT_TRUE(has(ids, "a"));  // decode never waits
}

TEST(SchedulerDelayFactor, ZeroMeansNoDelay) {
  DelayDriver d(0.0);
  d.sched.add_request(make("a", 8, 40));
  d.step();
  d.now = 1.0;
  d.sched.add_request(make("b", 8, 4));
  EXPECT_TRUE(has(d.step(), "b"));
}

TEST(SchedulerDelayFactor, AnIdleEngineNeverWaits) {
  DelayDriver d(100.0);
  d.sched.add_request(make("a", 8, 1));
  EXPECT_TRUE(has(d.step(), "a"));
  d.now = 5;
  EXPECT_TRUE(d.step().empty());  // "a" finished after its one token
  d.sched.add_request(make("b", 8, 1));
  EXPECT_TRUE(has(d.step(), "b"));  // nothing runs: admitted at once
}

TEST(SchedulerDelayFactor, NegativeIsRejected) {
  SchedulerConfig c;
  c.delay_factor = -0.5;
  EXPECT_THROW(c.validate(), Error);
}

}  // namespace
}  // namespace tessera::sched
