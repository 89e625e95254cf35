// OutputProcessor: turns each step's sampled tokens into what clients receive — incremental,
// UTF-8-safe text (the tokenizer's StreamingDecoder), stop strings (held back, then cut),
// logprobs with their top alternatives, usage counts — pushes them into each request's
// OutputChannel, and records the per-request metrics (time to first token, inter-token
// latency, end-to-end latency, queue time, finish counts). vLLM v1 keeps this apart from the
// engine core in the same way.
//
// Threads: every call but metrics() comes from the engine thread, which owns the request
// states; none runs under the engine's inbox lock, so add_request() never waits for
// detokenization. Metrics live in a MetricsStore with its own short lock.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "tessera/metrics.h"
#include "engine/model_runner.h"
#include "engine/stop_strings.h"
#include "scheduler/scheduler_output.h"
#include "tessera/request_output.h"
#include "tessera/sampling_params.h"
#include "tessera/tokenizer.h"

namespace tessera::engine {

using Clock = std::chrono::steady_clock;

// EngineMetrics behind a mutex: written by the engine thread, read by /metrics.
class MetricsStore {
 public:
  template <class F>
  void update(F&& change) {
    std::lock_guard lock(mutex_);
    change(metrics_);
  }
  EngineMetrics snapshot() const {
    std::lock_guard lock(mutex_);
    return metrics_;
  }

 private:
  mutable std::mutex mutex_;
  EngineMetrics metrics_;
};

// One request as the output side sees it; made by add_request() on the caller's thread.
struct OutputRequest {
  OutputRequest(std::string request_id, std::shared_ptr<OutputChannel> out, SamplingParams p,
                const tokenizer::Tokenizer& tokenizer, std::vector<int32_t> prompt_ids,
                uint64_t request_seed);

  std::string id;
  std::shared_ptr<OutputChannel> channel;
  SamplingParams params;
  std::unique_ptr<tokenizer::StreamingDecoder> decoder;
  StopStrings stops;
  std::vector<int32_t> prompt;
  std::vector<TokenLogprob> prompt_logprobs;  // gathered over prefill chunks until the first output
  uint64_t seed = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;
  Clock::time_point arrival;
  Clock::time_point scheduled_first{};
  Clock::time_point last_token{};
};

class OutputProcessor {
 public:
  explicit OutputProcessor(MetricsStore& metrics) : metrics_(metrics) {}

  void add(std::unique_ptr<OutputRequest> request);
  bool contains(const std::string& id) const { return requests_.count(id) != 0; }
  std::vector<std::string> ids() const;

  // Queue time and prefix-cache hits of requests scheduled for the first time in `plan`.
  void on_scheduled(const sched::SchedulerOutput& plan);

  struct Processed {
    std::vector<std::string> finished;  // final output sent; the request is forgotten here
    std::vector<std::string> stopped;   // of those, ended by a stop string the scheduler
                                        // does not know of yet
  };
  // One output per update (updates are in plan order, a subsequence of output.sampled).
  Processed process(std::span<const sched::RequestUpdate> updates, const StepOutput& output);

  // The final output of a request that ends outside update(): aborted, or failed. False if
  // the request is unknown (already finished).
  bool finish(const std::string& id, FinishReason reason, const std::string& error);

 private:
  RequestOutput output_of(OutputRequest& request, const sched::RequestUpdate& update,
                          const SampleResult& sampled, size_t row, size_t rows,
                          Clock::time_point now);

  MetricsStore& metrics_;
  std::unordered_map<std::string, std::unique_ptr<OutputRequest>> requests_;
};

}  // namespace tessera::engine
