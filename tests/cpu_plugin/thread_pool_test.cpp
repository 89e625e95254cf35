// The CPU plugin's thread pool (plugins/cpu/thread_pool.h), compiled into this test: every
// index runs exactly once under both schedules, the every-thread schedule runs one item on each
// thread, exceptions reach the caller, a second caller
// is refused at once (it then runs its loop inline) and workers know they are workers (nested
// loops run inline), workers are pinned one per CPU when
// asked, and idle workers sleep instead of spinning (their CPU time stops growing).
#include "thread_pool.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tsr::cpu {
namespace {

void count_range(void* context, int64_t begin, int64_t end) {
  auto& hits = *static_cast<std::vector<std::atomic<int>>*>(context);
  for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
}

TEST(ThreadPool, RunsEveryIndexOnceUnderBothSchedules) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads, false);
    EXPECT_EQ(pool.threads(), threads);
    for (Schedule schedule : {Schedule::kStatic, Schedule::kDynamic}) {
      for (int64_t count : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{1000}}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
        // Many jobs in a row: the generation handshake must not lose or repeat one.
        for (int repeat = 0; repeat < 50; ++repeat) {
          ASSERT_TRUE(pool.try_run(count, schedule, &count_range, &hits));
        }
        for (int64_t i = 0; i < count; ++i) {
          ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 50)
              << "threads " << threads << " count " << count << " index " << i;
        }
      }
    }
  }
}

// Records the kernel thread id that ran each item.
void record_tid(void* context, int64_t begin, int64_t end) {
  auto& tids = *static_cast<std::vector<std::atomic<int>>*>(context);
  for (int64_t i = begin; i < end; ++i) tids[static_cast<size_t>(i)].store(gettid());
}

TEST(ThreadPool, EveryThreadScheduleRunsOneItemOnEachThread) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads, false);
    std::vector<int> expected = pool.worker_tids();
    expected.push_back(gettid());
    std::sort(expected.begin(), expected.end());
    // Back to back, so workers are spinning when each job is published: a worker that saw
    // the new generation before the job opened once slept through it, and the caller waited
    // forever (a hang here fails by the test's timeout).
    // (More threads than this machine's cores make each job slow: fewer repeats there.)
    const int repeats = threads <= 2 ? 20000 : 2000;
    for (int repeat = 0; repeat < repeats; ++repeat) {
      std::vector<std::atomic<int>> tids(static_cast<size_t>(threads));
      ASSERT_TRUE(pool.try_run(threads, Schedule::kEveryThread, &record_tid, &tids));
      std::vector<int> got;
      for (const auto& t : tids) got.push_back(t.load());
      std::sort(got.begin(), got.end());
      ASSERT_EQ(got, expected) << "threads " << threads << " repeat " << repeat;
    }
    std::vector<std::atomic<int>> tids(static_cast<size_t>(threads) + 1);
    EXPECT_THROW(pool.try_run(threads + 1, Schedule::kEveryThread, &record_tid, &tids),
                 std::logic_error);
    // The refused job left the pool usable.
    std::vector<std::atomic<int>> hits(3);
    EXPECT_TRUE(pool.try_run(3, Schedule::kStatic, &count_range, &hits));
  }
}

TEST(ThreadPool, RethrowsTheBodysExceptionOnTheCaller) {
  ThreadPool pool(2, false);
  auto throwing = [](void*, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (i == 5) throw std::runtime_error("item 5");
    }
  };
  EXPECT_THROW(pool.try_run(10, Schedule::kDynamic, throwing, nullptr), std::runtime_error);
  // The pool is usable afterwards.
  std::vector<std::atomic<int>> hits(10);
  ASSERT_TRUE(pool.try_run(10, Schedule::kStatic, &count_range, &hits));
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

struct BusyContext {
  std::atomic<bool>* inside;
  std::atomic<bool>* release;
  std::thread::id caller;
  std::atomic<int>* wrong_on_worker;  // items whose on_worker() disagrees with their thread
};

TEST(ThreadPool, BusyPoolIsRefusedAndWorkersKnowThemselves) {
  ThreadPool pool(2, false);
  std::atomic<bool> inside{false}, release{false};
  std::atomic<int> wrong{0};
  BusyContext context{&inside, &release, {}, &wrong};
  auto body = [](void* c, int64_t begin, int64_t end) {
    auto& ctx = *static_cast<BusyContext*>(c);
    for (int64_t i = begin; i < end; ++i) {
      // Nested loops run inline on workers: parallel_for asks on_worker().
      if (ThreadPool::on_worker() != (std::this_thread::get_id() != ctx.caller)) {
        ctx.wrong_on_worker->fetch_add(1);
      }
      ctx.inside->store(true);
      while (!ctx.release->load()) std::this_thread::yield();
    }
  };
  std::thread first([&] {
    context.caller = std::this_thread::get_id();
    EXPECT_TRUE(pool.try_run(2, Schedule::kDynamic, body, &context));
  });
  while (!inside.load()) std::this_thread::yield();
  // A second caller finds the pool busy and is told so at once.
  std::vector<std::atomic<int>> hits(4);
  EXPECT_FALSE(pool.try_run(4, Schedule::kStatic, &count_range, &hits));
  for (auto& h : hits) EXPECT_EQ(h.load(), 0);
  release.store(true);
  first.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_FALSE(ThreadPool::on_worker());
  // And the pool takes the next job.
  ASSERT_TRUE(pool.try_run(4, Schedule::kStatic, &count_range, &hits));
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

int64_t thread_cpu_ns(int tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/schedstat");
  int64_t ns = -1;
  in >> ns;
  return ns;
}

TEST(ThreadPool, IdleWorkersSleep) {
  ThreadPool pool(3, false);
  std::vector<std::atomic<int>> hits(100);
  ASSERT_TRUE(pool.try_run(100, Schedule::kStatic, &count_range, &hits));
  // Past the spin window every worker sleeps: over 300 ms of idleness its CPU time may grow
  // by at most its remaining spin (100 us) and wake-up noise, far below the 300 ms a spinning
  // worker would burn. A loaded machine only lowers a worker's CPU time.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (int tid : pool.worker_tids()) {
    const int64_t before = thread_cpu_ns(tid);
    if (before < 0) GTEST_SKIP() << "no /proc/self/task/<tid>/schedstat on this kernel";
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const int64_t after = thread_cpu_ns(tid);
    EXPECT_LT(after - before, 30'000'000) << "worker " << tid << " used CPU while idle";
  }
}

TEST(ThreadPool, PinsOneWorkerPerCpuBesideTheCaller) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  const int cpus = CPU_COUNT(&allowed);
  if (cpus < 2) GTEST_SKIP() << "one CPU: nothing to pin beside the caller";
  ThreadPool pool(2, true);
  ASSERT_TRUE(pool.pinned());
  for (int tid : pool.worker_tids()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(sched_getaffinity(tid, sizeof set, &set), 0);
    EXPECT_EQ(CPU_COUNT(&set), 1) << "worker " << tid << " is not pinned to one CPU";
  }
  // More threads than CPUs: no pinning (the scheduler spreads them better).
  ThreadPool crowded(cpus + 1, true);
  EXPECT_FALSE(crowded.pinned());
  ThreadPool unpinned(2, false);
  EXPECT_FALSE(unpinned.pinned());
}

}  // namespace
}  // namespace tsr::cpu
