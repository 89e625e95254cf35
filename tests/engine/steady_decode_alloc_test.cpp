// A steady decode step allocates nothing on the host: the scheduler + model runner loop of the
// engine (Scheduler::schedule -> ModelRunner::execute, which applies the plan's deltas, builds
// the flat batch, runs the forward through the CPU plugin's ops and samples ->
// Scheduler::update) on a tiny random-weight Llama, 4 requests decoding together.
//
// The count: this binary replaces the global operator new (every form) with a counting one;
// it counts on every thread while `g_counting` is set, so the CPU plugin's worker threads are
// included (the plugin is loaded into this process, and its operator new calls resolve to
// these replacements). malloc() called directly is not counted.
//
// Weights: the model's own f32 and int8 (--quantization int8); both run the CPU plugin's own
// linear kernels. (F32 weights used to go through oneDNN's matmul, whose C++ API allocated
// memory objects and an argument map on every call: about 180 allocations per step here.)
//
// What is a step here, as in the issue: schedule() + execute() + update(). Outside it, and not
// counted: the engine's output processing (detokenized text, RequestOutput objects, channel
// pushes — strings for the user, which must be allocated), the metrics store, and the MPI
// command encoding of a multi-process tensor-parallel run (rank 0 serializes each forward
// batch into a fresh byte vector). A steady step: every request was admitted and prefilled,
// none finishes, none is preempted. The counted steps cross block boundaries (new KV blocks);
// with prefix caching on, each block that fills is hashed and registered in the prefix cache
// (the block pool's index and LRU list are threaded through a fixed array: no allocation).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "engine/model_runner.h"
#include "engine/model_weights.h"
#include "runtime/device_selector.h"
#include "tessera/plugins.h"
#include "scheduler/scheduler.h"
#include "tessera/device_spec.h"

// The replacements below pair malloc with free by design; GCC, seeing through its own
// inlined operator new, would take free() for a mismatched deallocation.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {

std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

void* counted_alloc(std::size_t size, std::size_t align) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (size == 0) size = 1;
  void* p = nullptr;
  if (align <= alignof(std::max_align_t)) {
    p = std::malloc(size);
  } else if (posix_memalign(&p, align, size) != 0) {
    p = nullptr;
  }
  return p;
}

}  // namespace

// Replacements of the global allocation functions (every form a C++17 program may call).
void* operator new(std::size_t size) {
  if (void* p = counted_alloc(size, 0)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  if (void* p = counted_alloc(size, 0)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t align) {
  if (void* p = counted_alloc(size, static_cast<std::size_t>(align))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t align) {
  if (void* p = counted_alloc(size, static_cast<std::size_t>(align))) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return counted_alloc(size, 0);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return counted_alloc(size, 0);
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return counted_alloc(size, static_cast<std::size_t>(align));
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return counted_alloc(size, static_cast<std::size_t>(align));
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace {

using namespace tessera;

const std::string kModels = [] {
  const char* dir = std::getenv("TESSERA_TINY_MODELS_DIR");
  return std::string(dir != nullptr && *dir != 0 ? dir : TESSERA_TINY_MODELS_DIR);
}();

constexpr int kBlockSize = 4;  // small, so that the counted steps cross block boundaries
constexpr int kRequests = 4;

// Per counted step: heap allocations, and whether some request's block became full.
struct StepCount {
  long allocations = 0;
  bool filled_a_block = false;
};

struct Case {
  bool graphs;  // decode graphs captured and replayed
  model::Quantization quantization;
};

class SteadyDecode : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    runtime::LoaderOptions loader;
    if (GetParam().graphs)
      loader.plugin_options["cpu.graphs"] = "1";  // the CPU offers graphs on request
    registry_ = runtime::PluginRegistry::discover(loader);
    bool found = false;
    for (const auto& plugin : registry_->plugins()) {
      found |= plugin->name() == "cpu" && !plugin->devices().empty();
    }
    if (!found) GTEST_SKIP() << "no cpu plugin (TESSERA_PLUGIN_PATH)";
    const auto choice = runtime::select_device(*registry_, parse_device_spec("cpu"));
    device_ = runtime::Device::open(*choice.plugin, choice.index);
    engine::LoadOptions load;
    load.quantization = GetParam().quantization;
    weights_ = engine::ModelWeights::load(kModels + "/llama3", device_, load);
  }

  // Admits kRequests requests, runs steps until all of them decode, warms up, then counts
  // the allocations of `counted` steady decode steps.
  std::vector<StepCount> run(bool prefix_caching, int counted) {
    engine::RunnerOptions options;
    options.max_num_tokens = 64;
    options.max_num_seqs = 8;
    options.block_size = kBlockSize;
    options.max_blocks_per_seq = 32;
    options.kv_dtype = weights_->activation_dtype();
    options.use_graphs = GetParam().graphs;
    engine::ModelRunner runner(device_, *weights_, options);
    runner.allocate_kv_cache(96);
    EXPECT_EQ(runner.graphs_enabled(), GetParam().graphs);

    sched::SchedulerConfig sc;
    sc.max_num_batched_tokens = 64;
    sc.max_num_seqs = 8;
    sc.max_model_len = options.max_blocks_per_seq * kBlockSize;
    kv::KvCacheConfig kc;
    kc.num_blocks = 96;
    kc.block_size = kBlockSize;
    kc.enable_prefix_caching = prefix_caching;
    sched::Scheduler scheduler(sc, kc);

    const auto vocab = static_cast<int32_t>(weights_->config().vocab_size);
    for (int i = 0; i < kRequests; ++i) {
      sched::NewRequest request;
      request.id = "steady-decode-request-with-a-long-id-" + std::to_string(i);
      // Lengths 5, 9, 13, 17: all requests fill their blocks in the same steps.
      for (int j = 0; j < 5 + kBlockSize * i; ++j) {
        request.prompt_token_ids.push_back((17 * i + 5 * j) % vocab);
      }
      request.max_tokens = 80;  // nobody finishes while counting
      request.ignore_eos = true;
      SamplingParams params;
      params.max_tokens = request.max_tokens;
      if (i % 2 == 1) {  // a sampled row with penalties and logprobs next to greedy rows
        params.temperature = 0.8f;
        params.top_p = 0.9f;
        params.repetition_penalty = 1.1f;
        params.logprobs = 2;
      } else {
        params.temperature = 0.0f;
      }
      const std::vector<int32_t> prompt = request.prompt_token_ids;
      const sched::RequestHandle handle = scheduler.add_request(std::move(request));
      runner.add_request(handle, params, /*seed=*/1000 + static_cast<uint64_t>(i), prompt);
    }

    std::vector<int> computed(kRequests, 0);
    auto step = [&]() -> bool {
      const sched::SchedulerOutput& plan = scheduler.schedule();
      const engine::StepOutput& out = runner.execute(plan);
      const auto updates = scheduler.update(plan, out.sampled);
      bool filled = false;
      for (const auto& s : plan.scheduled) {
        filled |= (s.start_position + s.num_tokens) % kBlockSize == 0;
      }
      EXPECT_EQ(updates.size(), static_cast<size_t>(kRequests));
      return filled;
    };
    // Until every prompt is in, then a few decode steps (the reused vectors reach their size,
    // a graph of this batch size is captured).
    for (int i = 0; i < 200 && scheduler.metrics().num_running < kRequests; ++i) step();
    for (int i = 0; i < 2 * kBlockSize; ++i) step();
    EXPECT_EQ(scheduler.metrics().num_running, kRequests);

    std::vector<StepCount> counts;
    for (int i = 0; i < counted; ++i) {
      StepCount c;
      g_allocations = 0;
      g_counting = true;
      c.filled_a_block = step();
      g_counting = false;
      c.allocations = g_allocations.load();
      counts.push_back(c);
      scheduler.check_consistency();
      EXPECT_EQ(scheduler.metrics().num_running, kRequests) << "step " << i << " was not steady";
    }
    return counts;
  }

  std::unique_ptr<runtime::PluginRegistry> registry_;
  std::shared_ptr<runtime::Device> device_;
  std::unique_ptr<engine::ModelWeights> weights_;
};

TEST_P(SteadyDecode, StepsAllocateNothingAcrossBlockBoundaries) {
  const auto counts = run(/*prefix_caching=*/false, 3 * kBlockSize);
  int boundaries = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    EXPECT_EQ(counts[i].allocations, 0) << "steady decode step " << i << " allocated";
    boundaries += counts[i].filled_a_block ? 1 : 0;
  }
  EXPECT_GE(boundaries, 2) << "the counted steps should fill blocks and take new ones";
}

TEST_P(SteadyDecode, WithPrefixCachingRegisteringFullBlocksAllocatesNothing) {
  const auto counts = run(/*prefix_caching=*/true, 3 * kBlockSize);
  int boundaries = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    EXPECT_EQ(counts[i].allocations, 0)
        << "steady decode step " << i << (counts[i].filled_a_block ? " (filled a block)" : "")
        << " allocated";
    boundaries += counts[i].filled_a_block ? 1 : 0;
  }
  EXPECT_GE(boundaries, 2) << "the counted steps should fill and register blocks";
}

INSTANTIATE_TEST_SUITE_P(CpuPlugin, SteadyDecode,
                         ::testing::Values(Case{false, model::Quantization::kNone},
                                           Case{true, model::Quantization::kNone},
                                           Case{false, model::Quantization::kInt8},
                                           Case{true, model::Quantization::kInt8}),
                         [](const auto& info) {
                           return std::string(info.param.graphs ? "graphs" : "eager") +
                                  (info.param.quantization == model::Quantization::kInt8 ? "_int8"
                                                                                         : "_f32");
                         });

}  // namespace
