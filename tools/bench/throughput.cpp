#include "throughput.h"

#include <fmt/format.h>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <ostream>
#include <thread>

#include "tessera/check.h"
#include "tessera/metrics.h"
#include "tessera/engine.h"

namespace tessera::bench {

namespace {

double seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// Samples the engine's gauges at a fixed interval on its own thread until stopped.
class GaugeSampler {
 public:
  GaugeSampler(const Engine& engine, double interval_s)
      : engine_(engine),
        interval_(
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval_s))),
        thread_([this] { loop(); }) {}
  ~GaugeSampler() { stop(); }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  int samples() const { return samples_; }
  double mean_kv_usage() const { return samples_ ? kv_sum_ / samples_ : 0; }
  double max_kv_usage() const { return kv_max_; }
  double mean_running() const { return samples_ ? running_sum_ / samples_ : 0; }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    while (!done_) {
      lock.unlock();
      const auto m = engine_.metrics();
      kv_sum_ += m.kv_usage;
      kv_max_ = std::max(kv_max_, m.kv_usage);
      running_sum_ += m.num_running;
      ++samples_;
      lock.lock();
      wake_.wait_for(lock, interval_, [this] { return done_; });
    }
  }

  const Engine& engine_;
  Clock::duration interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  int samples_ = 0;
  double kv_sum_ = 0;
  double kv_max_ = 0;
  double running_sum_ = 0;
  std::thread thread_;  // last: started after every other member exists
};

void warm_up(Engine& engine) {
  SamplingParams params;
  params.max_tokens = 2;
  params.ignore_eos = true;
  params.temperature = 0.0f;
  auto channel = engine.add_request("throughput-warmup", {1, 2, 3, 4, 5, 6, 7, 8}, params);
  RequestRecord record;
  drain(*channel, record);
  TSR_CHECK(record.error.empty(), "the warm-up request failed: {}", record.error);
}

}  // namespace

ThroughputResult run_throughput(Engine& engine, const std::vector<BenchRequest>& requests,
                                const ThroughputOptions& options) {
  TSR_CHECK(!requests.empty(), "no requests to send");
  TSR_CHECK(options.max_concurrency >= 0, "--max-concurrency must be positive (got {})",
            options.max_concurrency);
  ThroughputResult result;
  const auto& model = engine.model();
  result.model = model.path;
  result.dtype = model.dtype;
  result.quantization = model.quantization.empty() ? "none" : model.quantization;
  result.device = engine.memory_plan().device;
  result.dataset = options.dataset;
  result.num_requests = static_cast<int>(requests.size());
  result.max_concurrency = options.max_concurrency > 0
                               ? std::min(options.max_concurrency, result.num_requests)
                               : result.num_requests;
  for (const auto& r : requests)
    result.expected_output_tokens += static_cast<uint64_t>(r.output_len);

  engine.start();
  if (options.warmup) warm_up(engine);
  const auto before = engine.metrics();

  std::vector<RequestRecord> records(requests.size());
  std::atomic<size_t> next{0};
  // One reader thread per in-flight request: a thread takes the next request, submits it,
  // reads its channel to the end, and takes another, so at most max_concurrency are in flight.
  auto worker = [&] {
    for (size_t i = next++; i < requests.size(); i = next++) {
      SamplingParams params;
      params.max_tokens = requests[i].output_len;
      params.ignore_eos = true;
      params.temperature = 1.0f;
      params.seed = options.seed + i;
      RequestRecord& record = records[i];
      record.submitted = Clock::now();
      try {
        auto channel =
            engine.add_request(fmt::format("throughput-{}", i), requests[i].prompt, params);
        drain(*channel, record);
      } catch (const Error& e) {
        record.finished = Clock::now();
        record.finish_reason = "error";
        record.error = e.what();
      }
    }
  };
  const auto start = Clock::now();
  GaugeSampler sampler(engine, options.kv_sample_interval_s);
  {
    std::vector<std::thread> pool;
    for (int t = 0; t < result.max_concurrency; ++t) pool.emplace_back(worker);
    for (auto& thread : pool) thread.join();
  }
  const auto end = Clock::now();
  sampler.stop();
  const auto after = engine.metrics();

  result.elapsed_s = seconds(start, end);
  double ttft_sum = 0, tpot_sum = 0;
  int tpot_count = 0;
  for (const auto& r : records) {
    if (r.finish_reason == "error" || r.finish_reason == "abort" || !r.error.empty()) {
      ++result.failed;
      if (result.first_error.empty()) {
        result.first_error = r.error.empty() ? "finish_reason " + r.finish_reason : r.error;
      }
      continue;
    }
    ++result.completed;
    result.prompt_tokens += static_cast<uint64_t>(r.prompt_tokens);
    result.output_tokens += static_cast<uint64_t>(r.completion_tokens);
    if (r.first_token) {
      ttft_sum += seconds(r.submitted, *r.first_token);
      if (r.completion_tokens > 1) {
        tpot_sum += seconds(*r.first_token, r.finished) / (r.completion_tokens - 1);
        ++tpot_count;
      }
    }
  }
  if (result.completed > 0) result.mean_ttft_s = ttft_sum / result.completed;
  if (tpot_count > 0) result.mean_tpot_s = tpot_sum / tpot_count;
  if (result.elapsed_s > 0) {
    result.requests_per_s = result.completed / result.elapsed_s;
    result.output_tok_s = static_cast<double>(result.output_tokens) / result.elapsed_s;
    result.total_tok_s =
        static_cast<double>(result.prompt_tokens + result.output_tokens) / result.elapsed_s;
  }
  result.mean_kv_usage = sampler.mean_kv_usage();
  result.max_kv_usage = sampler.max_kv_usage();
  result.kv_samples = sampler.samples();
  result.mean_running = sampler.mean_running();
  result.preemptions_swap = after.preemptions_swap - before.preemptions_swap;
  result.preemptions_recompute = after.preemptions_recompute - before.preemptions_recompute;
  result.recomputed_tokens = after.recomputed_tokens - before.recomputed_tokens;
  result.prefix_cache_hits = after.prefix_cache_hits - before.prefix_cache_hits;
  result.prefix_cache_queries = after.prefix_cache_queries - before.prefix_cache_queries;
  result.steps = after.steps - before.steps;
  return result;
}

nlohmann::json to_json(const ThroughputResult& r) {
  nlohmann::json j = {{"benchmark", "throughput"},
                      {"model", r.model},
                      {"dtype", r.dtype},
                      {"quantization", r.quantization},
                      {"device", r.device},
                      {"dataset", r.dataset},
                      // vLLM's keys first, then ours.
                      {"elapsed_time", r.elapsed_s},
                      {"num_requests", r.num_requests},
                      {"total_num_tokens", r.prompt_tokens + r.output_tokens},
                      {"requests_per_second", r.requests_per_s},
                      {"tokens_per_second", r.total_tok_s},
                      {"max_concurrency", r.max_concurrency},
                      {"completed", r.completed},
                      {"failed", r.failed},
                      {"prompt_tokens", r.prompt_tokens},
                      {"output_tokens", r.output_tokens},
                      {"expected_output_tokens", r.expected_output_tokens},
                      {"output_tokens_per_second", r.output_tok_s},
                      {"mean_ttft_s", r.mean_ttft_s},
                      {"mean_tpot_s", r.mean_tpot_s},
                      {"mean_kv_usage", r.mean_kv_usage},
                      {"max_kv_usage", r.max_kv_usage},
                      {"kv_samples", r.kv_samples},
                      {"mean_running", r.mean_running},
                      {"preemptions_swap", r.preemptions_swap},
                      {"preemptions_recompute", r.preemptions_recompute},
                      {"recomputed_tokens", r.recomputed_tokens},
                      {"prefix_cache_hit_tokens", r.prefix_cache_hits},
                      {"prefix_cache_query_tokens", r.prefix_cache_queries},
                      {"steps", r.steps}};
  if (!r.first_error.empty()) j["first_error"] = r.first_error;
  return j;
}

void print_report(const ThroughputResult& r, std::ostream& out) {
  out << fmt::format("Model:              {} ({}, quantization {})\n", r.model, r.dtype,
                     r.quantization);
  out << fmt::format("Device:             {}\n", r.device);
  out << fmt::format("Dataset:            {}\n", r.dataset);
  out << fmt::format("Requests:           {} sent, {} completed, {} failed; at most {} in flight\n",
                     r.num_requests, r.completed, r.failed, r.max_concurrency);
  if (!r.first_error.empty()) out << fmt::format("First error:        {}\n", r.first_error);
  out << fmt::format("Elapsed:            {:.2f} s\n", r.elapsed_s);
  out << fmt::format("Tokens:             {} prompt + {} output\n", r.prompt_tokens,
                     r.output_tokens);
  out << fmt::format(
      "Throughput:         {:.2f} requests/s, {:.1f} output tok/s, {:.1f} total tok/s\n",
      r.requests_per_s, r.output_tok_s, r.total_tok_s);
  out << fmt::format("Latency:            mean TTFT {:.1f} ms, mean TPOT {:.1f} ms\n",
                     r.mean_ttft_s * 1e3, r.mean_tpot_s * 1e3);
  out << fmt::format(
      "KV cache usage:     mean {:.1f}%, max {:.1f}% ({} samples); mean running {:.1f}\n",
      100 * r.mean_kv_usage, 100 * r.max_kv_usage, r.kv_samples, r.mean_running);
  out << fmt::format("Preemptions:        {} swap, {} recompute ({} tokens recomputed)\n",
                     r.preemptions_swap, r.preemptions_recompute, r.recomputed_tokens);
  const double hit = r.prefix_cache_queries ? 100.0 * static_cast<double>(r.prefix_cache_hits) /
                                                  static_cast<double>(r.prefix_cache_queries)
                                            : 0.0;
  out << fmt::format("Prefix cache:       {:.1f}% of {} prompt tokens hit\n", hit,
                     r.prefix_cache_queries);
}

}  // namespace tessera::bench
