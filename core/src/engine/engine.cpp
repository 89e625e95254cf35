// The Engine implementation: one scheduler, one model runner, one engine thread.
//
// Locking: `mutex_` guards the request inbox, the abort list, per-request state and the
// metrics; the scheduler and runner are touched only by the thread running step(). A step
// takes the inbox under the lock, then plans and runs the model without it, so add_request
// never waits for a forward pass.
#include "tessera/engine.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "common/check.h"
#include "common/log.h"
#include "engine/memory_sizing.h"
#include "engine/metrics.h"
#include "engine/model_loading.h"
#include "engine/model_runner.h"
#include "engine/stop_strings.h"
#include "runtime/device_selector.h"
#include "scheduler/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace tessera {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

uint64_t mix64(uint64_t x) {  // splitmix64 finalizer: decorrelates nearby seeds
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct RequestState {
  std::string id;
  std::shared_ptr<OutputChannel> channel;
  SamplingParams params;
  std::unique_ptr<tokenizer::StreamingDecoder> decoder;
  engine::StopStrings stops;
  std::vector<int32_t> prompt;
  int completion_tokens = 0;
  int cached_tokens = 0;
  uint64_t seed = 0;
  Clock::time_point arrival;
  Clock::time_point scheduled_first{};
  Clock::time_point last_token{};
  bool stopped_by_string = false;

  RequestState(std::string request_id, std::shared_ptr<OutputChannel> out, SamplingParams p,
               const tokenizer::Tokenizer& tok, std::vector<int32_t> prompt_ids)
      : id(std::move(request_id)),
        channel(std::move(out)),
        params(std::move(p)),
        decoder(std::make_unique<tokenizer::StreamingDecoder>(tok, params.skip_special_tokens)),
        stops(params.stop),
        prompt(std::move(prompt_ids)),
        arrival(Clock::now()) {}
};

tsr_dtype resolve_dtype(const std::string& name, const model::ModelConfig& cfg,
                        const runtime::DeviceInfo& device) {
  auto supported = [&](tsr_dtype d) {
    return (device.properties.activation_dtypes & TSR_DTYPE_BIT(d)) != 0;
  };
  tsr_dtype dtype = TSR_DTYPE_F32;
  if (name == "auto") {
    // The model's own dtype where the device runs it, else f32. On a CPU without native
    // bf16 arithmetic f32 is as fast and exact, so auto stays f32 there.
    const bool cpu = device.properties.type == TSR_DEVICE_TYPE_CPU;
    if (!cpu && cfg.torch_dtype == "bfloat16" && supported(TSR_DTYPE_BF16)) dtype = TSR_DTYPE_BF16;
    if (!cpu && cfg.torch_dtype == "float16" && supported(TSR_DTYPE_F16)) dtype = TSR_DTYPE_F16;
    return dtype;
  }
  if (name == "float32" || name == "f32" || name == "float") {
    dtype = TSR_DTYPE_F32;
  } else if (name == "bfloat16" || name == "bf16") {
    dtype = TSR_DTYPE_BF16;
  } else if (name == "float16" || name == "f16" || name == "half") {
    dtype = TSR_DTYPE_F16;
  } else {
    throw Error(fmt::format("--dtype '{}' is not one of auto, float32, bfloat16, float16", name));
  }
  TSR_CHECK(supported(dtype), "--dtype {}: the device does not run this dtype", name);
  return dtype;
}

const char* dtype_label(tsr_dtype d) {
  return d == TSR_DTYPE_BF16 ? "bfloat16" : d == TSR_DTYPE_F16 ? "float16" : "float32";
}

class EngineImpl final : public Engine {
 public:
  EngineImpl(const EngineConfig& config, const LoadProgress& progress) : config_(config) {
    // The KV cache always holds the activation dtype; an fp8/int8 cache is not implemented,
    // and a flag that silently changes nothing would mislead.
    TSR_CHECK(config.kv_cache_dtype == "auto",
              "--kv-cache-dtype '{}': only 'auto' is supported (the KV cache holds the "
              "activation dtype, --dtype)",
              config.kv_cache_dtype);
    runtime::LoaderOptions loader;
    loader.plugin_dirs = config.plugin_dirs;
    loader.plugin_options = config.plugin_options;
    registry_ = runtime::PluginRegistry::discover(loader);
    const auto choice = runtime::select_device(*registry_, parse_device_spec(config.device));
    device_ = runtime::Device::open(*choice.plugin, choice.index);

    const auto model_config = engine::load_model_config(config.model);
    tokenizer_ = engine::load_tokenizer(config.model, config.tokenizer);
    TSR_CHECK(tokenizer_->vocab_size() <= model_config.vocab_size,
              "the tokenizer has {} tokens but the model's vocabulary is {}: they do not belong "
              "together",
              tokenizer_->vocab_size(), model_config.vocab_size);
    engine::LoadOptions load;
    load.activation_dtype = resolve_dtype(config.dtype, model_config, choice.info());
    load.quantization = model::parse_quantization(config.quantization);
    load.progress = progress;
    weights_ = engine::ModelWeights::load(config.model, device_, load);

    max_model_len_ = config.max_model_len > 0
                         ? config.max_model_len
                         : static_cast<int>(model_config.max_position_embeddings);
    TSR_CHECK(max_model_len_ <= model_config.max_position_embeddings,
              "--max-model-len {} exceeds the model's max_position_embeddings {}", max_model_len_,
              model_config.max_position_embeddings);
    engine::RunnerOptions runner_options;
    runner_options.max_num_tokens = config.max_num_batched_tokens;
    runner_options.max_num_seqs = config.max_num_seqs;
    runner_options.block_size = config.block_size;
    runner_options.max_blocks_per_seq =
        (max_model_len_ + config.block_size - 1) / config.block_size;
    runner_options.max_logprobs = config.max_logprobs;
    runner_options.kv_dtype = load.activation_dtype;
    runner_options.use_graphs = !config.enforce_eager;
    runner_ = std::make_unique<engine::ModelRunner>(device_, *weights_, runner_options);

    plan_ = engine::size_memory(device_, *runner_, *weights_, config, max_model_len_, &cost_);
    allocate_kv_memory(config);
    TSR_LOG_INFO("decode steps: {}", runner_->graphs_enabled()
                                         ? "captured device graphs (--enforce-eager turns them off)"
                                         : "eager");

    sched::SchedulerConfig sc;
    sc.max_num_batched_tokens = config.max_num_batched_tokens;
    sc.max_num_seqs = config.max_num_seqs;
    sc.max_model_len = max_model_len_;
    sc.enable_chunked_prefill = config.enable_chunked_prefill;
    sc.policy = sched::parse_scheduling_policy(config.scheduling_policy);
    sc.preemption_mode = sched::parse_preemption_mode(config.preemption_mode);
    kv::KvCacheConfig kc;
    kc.num_blocks = static_cast<int>(plan_.num_kv_blocks);
    kc.block_size = config.block_size;
    kc.num_host_blocks = static_cast<int>(plan_.num_swap_blocks);
    kc.enable_prefix_caching = config.enable_prefix_caching;
    scheduler_ = std::make_unique<sched::Scheduler>(sc, kc);
    scheduler_->set_cost_model(cost_);

    eos_ids_ = tokenizer_->eos_ids();
    for (int32_t id : model_config.eos_token_ids) {
      if (std::find(eos_ids_.begin(), eos_ids_.end(), id) == eos_ids_.end()) eos_ids_.push_back(id);
    }
    summary_.path = config.model;
    summary_.architecture = model_config.architecture_name;
    summary_.dtype = dtype_label(load.activation_dtype);
    summary_.quantization = model::quantization_name(load.quantization);
    summary_.vocab_size = model_config.vocab_size;
    summary_.weight_bytes_per_token = weights_->bytes_per_token();
    metrics_.num_kv_blocks = plan_.num_kv_blocks;
    rng_.seed(config.seed);
  }

  ~EngineImpl() override { stop(); }

  std::shared_ptr<OutputChannel> add_request(const std::string& id, std::vector<int32_t> prompt,
                                             const SamplingParams& params) override {
    params.validate(config_.max_logprobs);
    TSR_CHECK(!prompt.empty(), "the prompt is empty");
    for (int32_t token : prompt) {
      TSR_CHECK(token >= 0 && token < weights_->config().vocab_size,
                "prompt token id {} is outside the vocabulary (0..{})", token,
                weights_->config().vocab_size - 1);
    }
    const auto total = static_cast<int64_t>(prompt.size()) + params.max_tokens;
    TSR_CHECK(static_cast<int64_t>(prompt.size()) < max_model_len_,
              "the prompt has {} tokens but the maximum context length is {} (--max-model-len)",
              prompt.size(), max_model_len_);
    TSR_CHECK(total <= max_model_len_,
              "prompt ({} tokens) + max_tokens ({}) = {} exceeds the maximum context length {}; "
              "lower max_tokens",
              prompt.size(), params.max_tokens, total, max_model_len_);
    TSR_CHECK(total <= plan_.kv_tokens,
              "prompt + max_tokens = {} tokens can never fit the KV cache ({} tokens)", total,
              plan_.kv_tokens);
    auto channel = std::make_shared<OutputChannel>();
    {
      std::lock_guard lock(mutex_);
      TSR_CHECK(!states_.count(id), "request id '{}' is already in use", id);
      auto state = std::make_unique<RequestState>(id, channel, params, *tokenizer_, prompt);
      state->seed = params.seed ? *params.seed : rng_();
      states_.emplace(id, std::move(state));
      inbox_.push_back(id);
    }
    wake_.notify_all();
    return channel;
  }

  void abort(const std::string& id, bool disconnected) override {
    {
      std::lock_guard lock(mutex_);
      if (!states_.count(id)) return;
      aborts_.emplace_back(id, disconnected);
    }
    wake_.notify_all();
  }

  void start() override {
    if (thread_.joinable()) return;
    running_ = true;
    thread_ = std::thread([this] { loop(); });
  }

  void stop() override {
    if (thread_.joinable()) {
      {
        std::lock_guard lock(mutex_);
        running_ = false;
      }
      wake_.notify_all();
      thread_.join();
    }
    // Whatever is left is aborted so that every consumer gets a final output.
    std::vector<std::string> left;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, state] : states_) left.push_back(id);
    }
    for (const auto& id : left) abort(id, false);
    if (!left.empty()) step();
  }

  bool step() override {
    std::vector<std::string> inbox;
    std::vector<std::pair<std::string, bool>> aborts;
    {
      std::lock_guard lock(mutex_);
      inbox.swap(inbox_);
      aborts.swap(aborts_);
    }
    for (const auto& id : inbox) admit(id);
    for (const auto& [id, disconnected] : aborts) {
      if (scheduler_->abort(id)) {
        finalize(id, "abort", "");
        std::lock_guard lock(mutex_);
        ++metrics_.requests_aborted;
        if (disconnected) ++metrics_.requests_aborted_disconnect;
      }
    }
    if (!scheduler_->has_unfinished()) {
      // Aborts (and failed admissions) free blocks: the gauges must show it even when no
      // request is left to schedule.
      if (!inbox.empty() || !aborts.empty()) refresh_metrics();
      return !inbox.empty() || !aborts.empty();
    }

    const sched::SchedulerOutput plan = scheduler_->schedule();
    bool updated = false;
    try {
      run_plan(plan, &updated);
    } catch (const std::exception& e) {
      fail_step(plan, updated, e.what());
    }
    for (const auto& id : plan.finished) forget(id);
    refresh_metrics();
    return true;
  }

  bool has_unfinished() const override {
    std::lock_guard lock(mutex_);
    return !states_.empty();
  }

  engine::EngineMetrics metrics() const override {
    std::lock_guard lock(mutex_);
    return metrics_;
  }
  const tokenizer::Tokenizer& tokenizer() const override { return *tokenizer_; }
  const MemoryPlanSummary& memory_plan() const override { return plan_; }
  const ModelSummary& model() const override { return summary_; }
  const EngineConfig& config() const override { return config_; }
  int max_model_len() const override { return max_model_len_; }
  int64_t blocks_in_use() const override {
    std::lock_guard lock(mutex_);
    return blocks_in_use_;
  }

 private:
  void loop() {
    while (true) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] {
          return !running_ || !inbox_.empty() || !aborts_.empty() || !states_.empty();
        });
        if (!running_) return;
      }
      try {
        step();
      } catch (const std::exception& e) {
        // A step that failed outside its plan's ops (fail_step handles those) must not kill
        // the server either: fail every request it held, keep serving.
        TSR_LOG_ERROR("engine step failed: {}", e.what());
        fail_all(e.what());
      }
    }
  }

  // The KV cache and swap space of the memory plan; a failed allocation names the flag that
  // sized it instead of surfacing as a bare out-of-memory from the plugin.
  void allocate_kv_memory(const EngineConfig& config) {
    const bool cpu = plan_.device.rfind("cpu", 0) == 0;
    try {
      runner_->allocate_kv_cache(plan_.num_kv_blocks);
    } catch (const std::exception& e) {
      throw Error(fmt::format("cannot allocate the KV cache ({} blocks, {}) on {}: {}; lower {}",
                              plan_.num_kv_blocks,
                              engine::format_bytes(plan_.kv_block_bytes *
                                                   static_cast<uint64_t>(plan_.num_kv_blocks)),
                              plan_.device, e.what(),
                              config.num_gpu_blocks_override ? "--num-gpu-blocks-override"
                              : cpu                          ? "--kv-cache-memory"
                                                             : "--gpu-memory-utilization"),
                  ErrorKind::kResourceExhausted);
    }
    try {
      runner_->allocate_swap_space(plan_.num_swap_blocks);
    } catch (const std::exception& e) {
      throw Error(fmt::format("cannot allocate the swap space ({} blocks, {}) in host memory: {}; "
                              "lower --swap-space",
                              plan_.num_swap_blocks,
                              engine::format_bytes(plan_.kv_block_bytes *
                                                   static_cast<uint64_t>(plan_.num_swap_blocks)),
                              e.what()),
                  ErrorKind::kResourceExhausted);
    }
  }

  // Applies one plan: KV moves, forward, sampling, the scheduler's update, outputs.
  void run_plan(const sched::SchedulerOutput& plan, bool* updated) {
    apply_kv_moves(plan);
    std::vector<sched::SampledToken> sampled;
    engine::SampleResult sample_result;
    std::vector<const sched::ScheduledRequest*> sampled_rows;
    if (!plan.scheduled.empty()) {
      const auto now = Clock::now();
      engine::ForwardBatch batch;
      engine::SamplingBatch sampling;
      build_batch(plan, now, batch, sampling, sampled_rows);
      runner_->forward(batch);
      sample_result = runner_->sample(sampling);
      for (size_t i = 0; i < sampled_rows.size(); ++i) {
        sampled.push_back({sampled_rows[i]->id, sample_result.tokens[i]});
      }
    }
    const auto updates = scheduler_->update(plan, sampled);
    *updated = true;
    emit(updates, sampled_rows, sample_result);
  }

  // A plan failed (a plugin op returned an error): only the requests it touched are failed,
  // the ones it ran and the ones it preempted (their swapped-out KV may be incomplete);
  // requests that waited keep their state and run in the next steps. Their KV blocks are
  // freed by the abort; blocks written in the failed step were never hashed for the prefix
  // cache (that happens in update()), so no later request can reuse their contents.
  void fail_step(const sched::SchedulerOutput& plan, bool updated, const std::string& message) {
    TSR_LOG_ERROR("engine step {} failed: {}", plan.step, message);
    std::vector<std::string> affected;
    for (const auto& sr : plan.scheduled) affected.push_back(sr.id);
    affected.insert(affected.end(), plan.preempted.begin(), plan.preempted.end());
    for (const auto& id : affected) {
      scheduler_->abort(id);
      finalize(id, "error", message);
    }
    // Close the step: every request it scheduled is gone, so update() only clears the
    // pending plan. A failure inside update() itself leaves the scheduler in doubt, and the
    // loop then fails everything.
    if (!updated) scheduler_->update(plan, {});
  }

  void admit(const std::string& id) {
    RequestState* state = find(id);
    if (state == nullptr) return;
    sched::NewRequest request;
    request.id = id;
    request.prompt_token_ids = state->prompt;
    request.max_tokens = state->params.max_tokens;
    request.min_tokens = state->params.min_tokens;
    request.ignore_eos = state->params.ignore_eos;
    request.eos_token_ids = eos_ids_;
    request.stop_token_ids = state->params.stop_token_ids;
    request.priority = state->params.priority;
    try {
      scheduler_->add_request(std::move(request));
      std::lock_guard lock(mutex_);
      metrics_.prompt_tokens += state->prompt.size();
    } catch (const std::exception& e) {
      finalize(id, "error", e.what());
    }
  }

  void apply_kv_moves(const sched::SchedulerOutput& plan) {
    auto pairs = [](const std::vector<kv::BlockCopy>& copies) {
      engine::BlockPairs out;
      for (const auto& c : copies) out.emplace_back(c.src, c.dst);
      return out;
    };
    runner_->swap_out(pairs(plan.swap_out));
    runner_->swap_in(pairs(plan.swap_in));
    runner_->copy_blocks(pairs(plan.copies));
    const uint64_t block_bytes = runner_->kv_block_bytes_all_layers();
    std::lock_guard lock(mutex_);
    metrics_.swapped_out_bytes += plan.swap_out.size() * block_bytes;
    metrics_.swapped_in_bytes += plan.swap_in.size() * block_bytes;
  }

  void build_batch(const sched::SchedulerOutput& plan, Clock::time_point now,
                   engine::ForwardBatch& batch, engine::SamplingBatch& sampling,
                   std::vector<const sched::ScheduledRequest*>& rows) {
    const int bs = config_.block_size;
    int32_t width = 1;
    for (const auto& sr : plan.scheduled) {
      width = std::max(width, static_cast<int32_t>(sr.block_table.size()));
    }
    batch.max_blocks_per_seq = width;
    batch.query_start_loc.push_back(0);
    sampling.history_offsets.push_back(0);
    std::lock_guard lock(mutex_);
    for (const auto& sr : plan.scheduled) {
      for (int j = 0; j < sr.num_tokens; ++j) {
        const int pos = sr.start_position + j;
        batch.input_ids.push_back(sr.token_ids[static_cast<size_t>(j)]);
        batch.positions.push_back(pos);
        batch.slot_mapping.push_back(int64_t{sr.block_table[static_cast<size_t>(pos / bs)]} * bs +
                                     pos % bs);
      }
      batch.query_start_loc.push_back(batch.num_tokens());
      batch.seq_lens.push_back(sr.start_position + sr.num_tokens);
      for (int32_t i = 0; i < width; ++i) {
        batch.block_tables.push_back(i < static_cast<int32_t>(sr.block_table.size())
                                         ? sr.block_table[static_cast<size_t>(i)]
                                         : 0);
      }
      auto it = states_.find(sr.id);
      if (it != states_.end() && it->second->scheduled_first == Clock::time_point{}) {
        it->second->scheduled_first = now;
        metrics_.request_queue_time.observe(seconds_between(it->second->arrival, now));
        it->second->cached_tokens = sr.start_position;
      }
      if (!sr.needs_logits) continue;
      rows.push_back(&sr);
      batch.logits_indices.push_back(batch.num_tokens() - 1);
      const SamplingParams& p = it != states_.end() ? it->second->params : SamplingParams{};
      const sched::Request* request = scheduler_->find(sr.id);
      const int outputs = request ? request->num_output_tokens() : 0;
      sampling.temperature.push_back(p.temperature);
      sampling.top_k.push_back(p.top_k);
      sampling.top_p.push_back(p.top_p);
      sampling.min_p.push_back(p.min_p);
      sampling.repetition_penalty.push_back(p.repetition_penalty);
      sampling.presence_penalty.push_back(p.presence_penalty);
      sampling.frequency_penalty.push_back(p.frequency_penalty);
      // Keyed by the request's own seed and output position, so a seeded request samples the
      // same tokens whatever else shares its batches.
      const uint64_t base = it != states_.end() ? it->second->seed : 0;
      sampling.seeds.push_back(mix64(base ^ mix64(static_cast<uint64_t>(outputs))));
      const bool penalized =
          p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
      if (penalized && request != nullptr) {
        sampling.history_tokens.insert(sampling.history_tokens.end(), request->token_ids.begin(),
                                       request->token_ids.end());
        sampling.history_prompt_lens.push_back(request->num_prompt_tokens());
      } else {
        sampling.history_prompt_lens.push_back(0);
      }
      sampling.history_offsets.push_back(static_cast<int32_t>(sampling.history_tokens.size()));
      if (p.logprobs) {
        sampling.want_logprobs = true;
        sampling.num_top_logprobs = std::max(sampling.num_top_logprobs, *p.logprobs);
      }
    }
  }

  void emit(const std::vector<sched::RequestUpdate>& updates,
            const std::vector<const sched::ScheduledRequest*>& rows,
            const engine::SampleResult& sampled) {
    const auto now = Clock::now();
    for (const auto& update : updates) {
      size_t row = 0;
      while (row < rows.size() && rows[row]->id != update.id) ++row;
      RequestOutput out;
      std::string finish_reason;
      {
        std::lock_guard lock(mutex_);
        auto it = states_.find(update.id);
        if (it == states_.end()) continue;
        RequestState& s = *it->second;
        ++metrics_.generation_tokens;
        if (s.completion_tokens == 0) {
          metrics_.time_to_first_token.observe(seconds_between(s.arrival, now));
        } else {
          metrics_.inter_token_latency.observe(seconds_between(s.last_token, now));
        }
        s.last_token = now;
        ++s.completion_tokens;
        out.request_id = s.id;
        out.token_ids.push_back(update.token);
        if (s.params.logprobs && row < rows.size() && !sampled.logprobs.empty()) {
          TokenLogprob lp;
          lp.token = update.token;
          lp.logprob = sampled.logprobs[row];
          const int n = *s.params.logprobs;
          const auto width = sampled.top_ids.size() / std::max<size_t>(rows.size(), 1);
          for (int k = 0; k < n && static_cast<size_t>(k) < width; ++k) {
            lp.top.emplace_back(sampled.top_ids[row * width + static_cast<size_t>(k)],
                                sampled.top_logprobs[row * width + static_cast<size_t>(k)]);
          }
          out.logprobs.push_back(std::move(lp));
        }
        // A stop token is not part of the text (vLLM's default), but is in token_ids.
        const bool is_stop_token = update.finish_reason == sched::FinishReason::kStop;
        const std::string delta = is_stop_token ? std::string() : s.decoder->step(update.token);
        auto result = s.stops.feed(delta);
        out.text = std::move(result.emit);
        if (result.stopped) {
          s.stopped_by_string = true;
          finish_reason = "stop";
        } else if (update.finish_reason != sched::FinishReason::kNone) {
          finish_reason = sched::to_string(update.finish_reason);
          out.text += s.stops.feed(s.decoder->finish()).emit;
          out.text += s.stops.flush();
        }
        out.prompt_tokens = static_cast<int>(s.prompt.size());
        out.completion_tokens = s.completion_tokens;
        out.cached_tokens = s.cached_tokens;
        if (!finish_reason.empty()) {
          out.finished = true;
          out.finish_reason = finish_reason;
          metrics_.e2e_request_latency.observe(seconds_between(s.arrival, now));
          if (finish_reason == "stop") ++metrics_.requests_finished_stop;
          if (finish_reason == "length") ++metrics_.requests_finished_length;
        }
        s.channel->push(std::move(out));
        if (!finish_reason.empty()) states_.erase(it);
      }
      if (finish_reason == "stop" && update.finish_reason == sched::FinishReason::kNone) {
        scheduler_->finish(update.id, sched::FinishReason::kStop);
      }
    }
  }

  // The final output of a request that ends outside update(): aborted, or failed.
  void finalize(const std::string& id, const std::string& reason, const std::string& error) {
    std::lock_guard lock(mutex_);
    auto it = states_.find(id);
    if (it == states_.end()) return;
    RequestOutput out;
    out.request_id = id;
    out.finished = true;
    out.finish_reason = reason;
    out.error = error;
    out.prompt_tokens = static_cast<int>(it->second->prompt.size());
    out.completion_tokens = it->second->completion_tokens;
    if (reason == "error") ++metrics_.requests_failed;
    it->second->channel->push(std::move(out));
    states_.erase(it);
  }

  void forget(const std::string& id) { finalize(id, "abort", ""); }

  void fail_all(const std::string& message) {
    std::vector<std::string> ids;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, state] : states_) ids.push_back(id);
    }
    for (const auto& id : ids) {
      scheduler_->abort(id);
      finalize(id, "error", message);
    }
  }

  RequestState* find(const std::string& id) {
    std::lock_guard lock(mutex_);
    auto it = states_.find(id);
    return it == states_.end() ? nullptr : it->second.get();
  }

  void refresh_metrics() {
    const auto m = scheduler_->metrics();
    std::lock_guard lock(mutex_);
    metrics_.num_running = m.num_running;
    metrics_.num_waiting = m.num_waiting;
    metrics_.num_swapped = m.num_swapped;
    metrics_.kv_usage = m.kv_usage;
    metrics_.prefix_cache_queries = m.prefix_cache_queries;
    metrics_.prefix_cache_hits = m.prefix_cache_hits;
    metrics_.preemptions_swap = m.preemptions_swap;
    metrics_.preemptions_recompute = m.preemptions_recompute;
    metrics_.recomputed_tokens = m.recomputed_tokens;
    metrics_.steps = m.num_steps;
    metrics_.swap_blocks_in_use =
        std::llround(m.swap_usage * static_cast<double>(plan_.num_swap_blocks));
    // Free blocks include cached ones nobody holds: "in use" means held by a request.
    blocks_in_use_ = plan_.num_kv_blocks - m.num_free_blocks;
  }

  EngineConfig config_;
  std::unique_ptr<runtime::PluginRegistry> registry_;
  std::shared_ptr<runtime::Device> device_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<engine::ModelWeights> weights_;
  std::unique_ptr<engine::ModelRunner> runner_;
  std::unique_ptr<sched::Scheduler> scheduler_;
  sched::CostModel cost_;
  MemoryPlanSummary plan_;
  ModelSummary summary_;
  std::vector<int32_t> eos_ids_;
  int max_model_len_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::string> inbox_;
  std::vector<std::pair<std::string, bool>> aborts_;
  std::unordered_map<std::string, std::unique_ptr<RequestState>> states_;
  engine::EngineMetrics metrics_;
  int64_t blocks_in_use_ = 0;
  std::mt19937_64 rng_;
  bool running_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Engine> Engine::create(const EngineConfig& config, const LoadProgress& progress) {
  return std::make_unique<EngineImpl>(config, progress);
}

}  // namespace tessera
