// The Engine implementation: the loop. One scheduler (plans), one model runner (executes a
// plan: KV moves, inputs, forward, sampling), one output processor (detokenization, stop
// strings, logprobs, per-request metrics, channels), one engine thread.
//
// Locking: `mutex_` guards only the inbox, the abort and reset lists and the live ids; the
// scheduler, runner and output processor are touched only by the thread running step(). A
// step swaps the inbox under the lock and does everything else without it, so add_request
// never waits for a forward pass or for detokenization. Metrics have their own short lock.
#include "tessera/engine.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <future>
#include <mutex>
#include <random>
#include <span>
#include <thread>
#include <unordered_set>

#include "common/check.h"
#include "common/log.h"
#include "engine/memory_sizing.h"
#include "tessera/metrics.h"
#include "engine/model_loading.h"
#include "engine/model_runner.h"
#include "engine/mpi_world.h"
#include "engine/output_processor.h"
#include "models/tensor_parallel.h"
#include "runtime/communicator.h"
#include "runtime/device_selector.h"
#include "scheduler/scheduler.h"
#include "tessera/validate_request.h"
#include "tessera/tokenizer.h"

namespace tessera {

namespace {

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
    // Intel GPUs (XPU): bf16 models run in f16 unless --dtype asks otherwise. Arc's vector
    // engines have native f16 arithmetic and conversions but bf16 only in the XMX units, and
    // f16 keeps 3 more mantissa bits; the price is f16's range (docs/xpu-plugin.md).
    if (device.properties.type == TSR_DEVICE_TYPE_XPU && dtype == TSR_DTYPE_BF16 &&
        supported(TSR_DTYPE_F16)) {
      dtype = TSR_DTYPE_F16;
    }
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

// --kv-cache-dtype: auto is the activation dtype (vLLM's meaning); a 16-bit cache beside f32
// activations halves the KV cache's memory and the bytes attention reads per token.
tsr_dtype resolve_kv_dtype(const std::string& name, tsr_dtype activation,
                           const runtime::DeviceInfo& info) {
  if (name == "auto") return activation;
  tsr_dtype dtype = TSR_DTYPE_F32;
  if (name == "float32") {
    dtype = TSR_DTYPE_F32;
  } else if (name == "bfloat16") {
    dtype = TSR_DTYPE_BF16;
  } else if (name == "float16") {
    dtype = TSR_DTYPE_F16;
  } else {
    throw Error(fmt::format(
        "--kv-cache-dtype '{}' is not one of auto, float32, bfloat16, float16 (fp8 and int8 "
        "KV caches are not implemented)",
        name));
  }
  TSR_CHECK((info.properties.kv_cache_dtypes & TSR_DTYPE_BIT(dtype)) != 0,
            "--kv-cache-dtype {}: the device does not hold a KV cache of this dtype", name);
  return dtype;
}

const char* dtype_label(tsr_dtype d) {
  return d == TSR_DTYPE_BF16 ? "bfloat16" : d == TSR_DTYPE_F16 ? "float16" : "float32";
}

class EngineImpl final : public Engine {
 public:
  EngineImpl(const EngineConfig& config, const LoadProgress& progress) : config_(config) {
    const auto model_config = engine::load_model_config(config.model);
    // Before any device is opened: a config tensor parallelism cannot split fails first.
    models::check_tensor_parallel(model_config, config.tensor_parallel_size);
    tokenizer_ = engine::load_tokenizer(config.model, config.tokenizer);
    TSR_CHECK(tokenizer_->vocab_size() <= model_config.vocab_size,
              "the tokenizer has {} tokens but the model's vocabulary is {}: they do not belong "
              "together",
              tokenizer_->vocab_size(), model_config.vocab_size);
    // Under mpirun each process is one rank (engine/mpi_world.h); otherwise every rank is a
    // device of this process.
    engine::MpiWorld* world = config.tensor_parallel_size > 1 && engine::launched_by_mpi()
                                  ? &engine::MpiWorld::instance()
                                  : nullptr;
    const auto choices = world != nullptr ? open_mpi_device(config, *world) : open_devices(config);
    engine::LoadOptions load;
    load.activation_dtype = resolve_dtype(config.dtype, model_config, choices.front().info());
    load.quantization = model::parse_quantization(config.quantization);
    load.progress = progress;
    std::vector<const engine::ModelWeights*> rank_weights;
    for (size_t rank = 0; rank < devices_.size(); ++rank) {
      load.shard = {static_cast<int32_t>(rank), static_cast<int32_t>(devices_.size())};
      if (world != nullptr) load.shard = {world->rank(), world->size()};
      weights_.push_back(engine::ModelWeights::load(config.model, devices_[rank], load));
      rank_weights.push_back(weights_.back().get());
    }
    device_ = devices_.front();

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
    runner_options.kv_dtype =
        resolve_kv_dtype(config.kv_cache_dtype, load.activation_dtype, choices.front().info());
    runner_options.use_graphs = !config.enforce_eager;
    if (world != nullptr) {
      runner_ = std::make_unique<engine::ModelRunner>(
          device_, *weights_.front(), runner_options,
          runtime::Communicator::over_host(device_, *world, world->rank(), world->size()));
      if (world->rank() != 0) serve_rank_zero(*world);  // never returns
      runner_->set_command_sink([world](const engine::RunnerCommand& command) {
        auto bytes = engine::encode(command);
        world->broadcast(bytes);
        if (command.kind == engine::RunnerCommand::Kind::kStop) world->mark_workers_stopped();
      });
    } else {
      runner_ = std::make_unique<engine::ModelRunner>(devices_, rank_weights, runner_options);
    }
    runner_->set_profile_collectives(config.profile_collectives);

    plan_ =
        engine::size_memory(device_, *runner_, *weights_.front(), config, max_model_len_, &cost_);
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
    sc.delay_factor = config.scheduler_delay_factor;
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
    summary_.linear_formats = weights_.front()->linear_formats();
    summary_.vocab_size = model_config.vocab_size;
    summary_.weight_bytes_per_token = weights_.front()->bytes_per_token();
    summary_.linear_macs_per_token = weights_.front()->linear_macs_per_token();
    // q.k and p.v: head_dim multiply-adds each per query head and layer.
    summary_.attention_macs_per_pair = static_cast<uint64_t>(
        2 * model_config.num_layers * weights_.front()->layout().q_heads * model_config.head_dim);
    summary_.tensor_parallel_size = config.tensor_parallel_size;
    metrics_.update([&](engine::EngineMetrics& m) { m.num_kv_blocks = plan_.num_kv_blocks; });
    rng_.seed(config.seed);
  }

  ~EngineImpl() override { stop(); }

  std::shared_ptr<OutputChannel> add_request(const std::string& id, std::vector<int32_t> prompt,
                                             const SamplingParams& params) override {
    validate_request(prompt, params, request_limits());
    auto channel = std::make_shared<OutputChannel>();
    {
      std::lock_guard lock(mutex_);
      TSR_CHECK_INPUT(!live_.count(id), "id", "request id '{}' is already in use", id);
      const uint64_t seed = params.seed ? *params.seed : rng_();
      inbox_.push_back(std::make_unique<engine::OutputRequest>(id, channel, params, *tokenizer_,
                                                               std::move(prompt), seed));
      live_.insert(id);
    }
    wake_.notify_all();
    return channel;
  }

  void abort(const std::string& id, bool disconnected) override {
    {
      std::lock_guard lock(mutex_);
      if (!live_.count(id)) return;
      aborts_.emplace_back(id, disconnected);
    }
    wake_.notify_all();
  }

  int64_t reset_prefix_cache() override {
    std::future<int64_t> done;
    {
      std::lock_guard lock(mutex_);
      if (running_) {
        resets_.emplace_back();
        done = resets_.back().get_future();
      }
    }
    if (!done.valid()) return scheduler_->reset_prefix_cache();  // the caller owns the steps
    wake_.notify_all();
    return done.get();
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
      left.assign(live_.begin(), live_.end());
    }
    for (const auto& id : left) abort(id, false);
    bool resets_pending = false;
    {
      std::lock_guard lock(mutex_);
      resets_pending = !resets_.empty();
    }
    if (!left.empty() || resets_pending) step();
  }

  // One turn of the loop: admit, abort, schedule, execute, update, hand the results to the
  // output processor. Only the inbox swap takes the engine's lock.
  bool step() override {
    std::vector<std::unique_ptr<engine::OutputRequest>> inbox;
    std::vector<std::pair<std::string, bool>> aborts;
    std::vector<std::promise<int64_t>> resets;
    {
      std::lock_guard lock(mutex_);
      inbox.swap(inbox_);
      aborts.swap(aborts_);
      resets.swap(resets_);
    }
    const bool had_work = !inbox.empty() || !aborts.empty() || !resets.empty();
    for (auto& request : inbox) admit(std::move(request));
    for (const auto& [id, disconnected] : aborts) {
      if (!scheduler_->abort(id)) continue;
      end(id, FinishReason::kAbort, "");
      // A copy: clang 14 cannot capture a structured binding in a lambda.
      const bool client_gone = disconnected;
      metrics_.update([&](engine::EngineMetrics& m) {
        ++m.requests_aborted;
        if (client_gone) ++m.requests_aborted_disconnect;
      });
    }
    for (auto& reset : resets) reset.set_value(scheduler_->reset_prefix_cache());
    if (!scheduler_->has_unfinished()) {
      // Aborts (and failed admissions) free blocks: the gauges must show it even when no
      // request is left to schedule.
      if (had_work) refresh_metrics();
      return had_work;
    }

    // The scheduler's own plan, reused from step to step (valid until the next schedule()).
    const sched::SchedulerOutput& plan = scheduler_->schedule();
    const uint64_t block_bytes = runner_->kv_block_bytes_all_layers();
    metrics_.update([&](engine::EngineMetrics& m) {
      m.swapped_out_bytes += plan.swap_out.size() * block_bytes;
      m.swapped_in_bytes += plan.swap_in.size() * block_bytes;
    });
    bool updated = false;
    try {
      run_plan(plan, &updated);
    } catch (const std::exception& e) {
      fail_step(plan, updated, e.what());
    }
    refresh_metrics();
    return true;
  }

  bool has_unfinished() const override {
    std::lock_guard lock(mutex_);
    return !live_.empty();
  }

  engine::EngineMetrics metrics() const override { return metrics_.snapshot(); }
  const tokenizer::Tokenizer& tokenizer() const override { return *tokenizer_; }
  const MemoryPlanSummary& memory_plan() const override { return plan_; }
  const ModelSummary& model() const override { return summary_; }
  const EngineConfig& config() const override { return config_; }
  std::optional<DeviceMemory> device_memory() const override {
    try {
      const auto info = device_->memory_info();
      return DeviceMemory{info.free_bytes, info.total_bytes};
    } catch (const std::exception&) {
      return std::nullopt;  // a plugin that cannot say leaves the gauges out
    }
  }
  int max_model_len() const override { return max_model_len_; }

  std::optional<GemmCalibration> calibrate_prefill_gemm(int64_t rows, int repeats) override {
    TSR_INVARIANT(!thread_.joinable(),
                  "calibrate_prefill_gemm runs only while the engine thread is stopped");
    const auto timing = runner_->time_gate_up_gemm(rows, repeats);
    if (!timing) return std::nullopt;
    GemmCalibration c;
    c.rows = timing->rows;
    c.out_features = timing->out_features;
    c.in_features = timing->in_features;
    c.seconds = timing->seconds;
    return c;
  }
  RequestLimits request_limits() const override {
    RequestLimits limits;
    limits.max_model_len = max_model_len_;
    limits.kv_tokens = plan_.kv_tokens;
    limits.vocab_size = weights_.front()->config().vocab_size;
    limits.max_logprobs = config_.max_logprobs;
    limits.prompt_logprobs_supported = config_.tensor_parallel_size == 1;
    return limits;
  }
  int64_t blocks_in_use() const override { return blocks_in_use_.load(); }

 private:
  // The plugins and one device per tensor-parallel rank (devices_). With N > 1 ranks the
  // CPU plugin is asked for N core-group devices of cores / N threads each, unless the
  // --plugin-option values cpu.devices / cpu.num_threads say otherwise.
  std::vector<runtime::DeviceChoice> open_devices(const EngineConfig& config) {
    runtime::LoaderOptions loader;
    loader.plugin_dirs = config.plugin_dirs;
    loader.plugin_options = config.plugin_options;
    const int tp = config.tensor_parallel_size;
    if (tp > 1) {
      loader.plugin_options.emplace("cpu.devices", std::to_string(tp));
      const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      loader.plugin_options.emplace("cpu.num_threads", std::to_string(std::max(1, cores / tp)));
    }
    registry_ = runtime::PluginRegistry::discover(loader);
    // --device auto passes over plugins that could not run this model.
    const runtime::ModelNeeds needs = runtime::serving_needs(config.quantization, config.dtype);
    const auto choices =
        runtime::select_devices(*registry_, parse_device_spec(config.device), tp, &needs);
    for (const auto& choice : choices) {
      devices_.push_back(runtime::Device::open(*choice.plugin, choice.index));
    }
    if (tp > 1) {
      std::vector<std::string> names;
      for (const auto& c : choices) names.push_back(c.to_string());
      TSR_LOG_INFO("tensor parallel size {}: ranks on {}", tp, fmt::join(names, ", "));
    }
    return choices;
  }

  // MPI: this process's device, one of `world.size()` ranks (one process each): the device
  // of --device's list at this rank, else the plugin's device `first + local rank` (the CPU
  // plugin's one device in every process, each with cores / processes-on-this-host threads).
  std::vector<runtime::DeviceChoice> open_mpi_device(const EngineConfig& config,
                                                     engine::MpiWorld& world) {
    const int tp = config.tensor_parallel_size;
    TSR_CHECK_KIND(world.size() == tp, ErrorKind::kInvalidArgument,
                   "mpirun started {} processes but --tensor-parallel-size is {}: start one "
                   "process per rank (mpirun -np {})",
                   world.size(), tp, tp);
    runtime::LoaderOptions loader;
    loader.plugin_dirs = config.plugin_dirs;
    loader.plugin_options = config.plugin_options;
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    loader.plugin_options.emplace("cpu.num_threads",
                                  std::to_string(std::max(1, cores / world.local_size())));
    registry_ = runtime::PluginRegistry::discover(loader);
    const runtime::ModelNeeds needs = runtime::serving_needs(config.quantization, config.dtype);
    DeviceSpec spec = parse_device_spec(config.device);
    if (spec.indices.size() > 1) {
      TSR_CHECK_KIND(static_cast<int>(spec.indices.size()) == tp, ErrorKind::kInvalidArgument,
                     "--device {} names {} devices but --tensor-parallel-size is {}",
                     spec.to_string(), spec.indices.size(), tp);
      spec.indices = {spec.indices[static_cast<size_t>(world.rank())]};
      spec.index = spec.indices.front();
    }
    runtime::DeviceChoice choice = runtime::select_device(*registry_, spec, &needs);
    if (spec.indices.empty() && choice.plugin->name() != "cpu") {
      choice.index += world.local_rank();
      const auto count = static_cast<int32_t>(choice.plugin->devices().size());
      TSR_CHECK_KIND(choice.index < count, ErrorKind::kNotFound,
                     "MPI rank {} (local rank {}) needs device {}:{}, but the plugin has {}",
                     world.rank(), world.local_rank(), choice.plugin->name(), choice.index, count);
    }
    devices_.push_back(runtime::Device::open(*choice.plugin, choice.index));
    TSR_LOG_INFO("tensor parallel size {}: MPI rank {} on {}", tp, world.rank(),
                 choice.to_string());
    return {choice};
  }

  // MPI ranks other than 0: run rank 0's commands until it says stop, then end the process
  // (its command line's own work, e.g. printing, is rank 0's). Any error ends the whole job.
  [[noreturn]] void serve_rank_zero(engine::MpiWorld& world) {
    try {
      for (;;) {
        std::vector<uint8_t> bytes;
        world.broadcast(bytes);
        const engine::RunnerCommand command = engine::decode(bytes);
        if (command.kind == engine::RunnerCommand::Kind::kStop) break;
        runner_->run(command);
      }
    } catch (const std::exception& e) {
      world.abort(std::string("error: ") + e.what());
    }
    std::exit(0);  // MPI_Finalize runs at exit
  }

  void loop() {
    while (true) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] {
          return !running_ || !inbox_.empty() || !aborts_.empty() || !resets_.empty() ||
                 !live_.empty();
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

  // Applies one plan: KV moves, forward and sampling (the runner), the scheduler's update,
  // outputs. *updated tells fail_step whether the scheduler has already taken the step.
  void run_plan(const sched::SchedulerOutput& plan, bool* updated) {
    outputs_.on_scheduled(plan);
    const engine::StepOutput& output = runner_->execute(plan);
    const std::span<const sched::RequestUpdate> updates = scheduler_->update(plan, output.sampled);
    *updated = true;
    const auto processed = outputs_.process(updates, output);
    for (const auto& id : processed.stopped) {
      scheduler_->finish(id, sched::FinishReason::kStop);
    }
    for (const auto& id : processed.finished) forget(id);
    // Requests the scheduler ended without a token (none today) still get a final output.
    for (const auto& id : plan.finished) end(id, FinishReason::kAbort, "");
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
      end(id, FinishReason::kError, message);
    }
    // Close the step: every request it scheduled is gone, so update() only clears the
    // pending plan. A failure inside update() itself leaves the scheduler in doubt, and the
    // loop then fails everything.
    if (!updated) scheduler_->update(plan, {});
  }

  void admit(std::unique_ptr<engine::OutputRequest> state) {
    const std::string id = state->id;
    sched::NewRequest request;
    request.id = id;
    request.prompt_token_ids = state->prompt;
    request.max_tokens = state->params.max_tokens;
    request.min_tokens = state->params.min_tokens;
    request.ignore_eos = state->params.ignore_eos;
    request.eos_token_ids = eos_ids_;
    request.stop_token_ids = state->params.stop_token_ids;
    request.priority = state->params.priority;
    // Prompt logprobs need the logits of every prompt position, so nothing may come from the
    // prefix cache (vLLM does the same).
    request.skip_prefix_cache = state->params.prompt_logprobs.has_value();
    const auto prompt_tokens = state->prompt.size();
    const SamplingParams params = state->params;
    const uint64_t seed = state->seed;
    const std::vector<int32_t> prompt = state->prompt;
    outputs_.add(std::move(state));
    try {
      const sched::RequestHandle handle = scheduler_->add_request(std::move(request));
      try {
        runner_->add_request(handle, params, seed, prompt);
      } catch (...) {
        scheduler_->abort(id);  // the next plan's finished_handles clears the runner's row
        throw;
      }
      metrics_.update([&](engine::EngineMetrics& m) { m.prompt_tokens += prompt_tokens; });
    } catch (const std::exception& e) {
      end(id, FinishReason::kError, e.what());
    }
  }

  // Sends the final output of a request that ends outside update() and forgets it.
  void end(const std::string& id, FinishReason reason, const std::string& error) {
    if (outputs_.finish(id, reason, error)) forget(id);
  }

  // The request has had its final output: drop what the inbox lock keeps. (The runner drops
  // its row when a plan lists the request's handle as finished.)
  void forget(const std::string& id) {
    std::lock_guard lock(mutex_);
    live_.erase(id);
  }

  void fail_all(const std::string& message) {
    for (const auto& id : outputs_.ids()) {
      scheduler_->abort(id);
      end(id, FinishReason::kError, message);
    }
  }

  void refresh_metrics() {
    const auto m = scheduler_->metrics();
    metrics_.update([&](engine::EngineMetrics& out) {
      out.num_running = m.num_running;
      out.num_waiting = m.num_waiting;
      out.num_swapped = m.num_swapped;
      out.kv_usage = m.kv_usage;
      out.prefix_cache_queries = m.prefix_cache_queries;
      out.prefix_cache_hits = m.prefix_cache_hits;
      out.preemptions_swap = m.preemptions_swap;
      out.preemptions_recompute = m.preemptions_recompute;
      out.recomputed_tokens = m.recomputed_tokens;
      out.steps = m.num_steps;
      const auto tp = runner_->collective_timing();
      out.tp_decode_forward_seconds = tp.decode_forward_seconds;
      out.tp_decode_collective_seconds = tp.decode_collective_seconds;
      out.tp_decode_forwards = tp.decode_forwards;
      out.swap_blocks_in_use =
          std::llround(m.swap_usage * static_cast<double>(plan_.num_swap_blocks));
    });
    // Free blocks include cached ones nobody holds: "in use" means held by a request.
    blocks_in_use_ = plan_.num_kv_blocks - m.num_free_blocks;
  }

  EngineConfig config_;
  std::unique_ptr<runtime::PluginRegistry> registry_;
  std::vector<std::shared_ptr<runtime::Device>> devices_;  // one per tensor-parallel rank
  std::shared_ptr<runtime::Device> device_;                // rank 0's
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::vector<std::unique_ptr<engine::ModelWeights>> weights_;  // one per rank
  std::unique_ptr<engine::ModelRunner> runner_;
  std::unique_ptr<sched::Scheduler> scheduler_;
  sched::CostModel cost_;
  MemoryPlanSummary plan_;
  ModelSummary summary_;
  std::vector<int32_t> eos_ids_;
  int max_model_len_ = 0;

  // Engine thread only.
  engine::MetricsStore metrics_;
  engine::OutputProcessor outputs_{metrics_};
  std::atomic<int64_t> blocks_in_use_{0};

  // Guards the inbox, the aborts, the resets, live_, rng_ and running_.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::unique_ptr<engine::OutputRequest>> inbox_;
  std::vector<std::pair<std::string, bool>> aborts_;
  std::vector<std::promise<int64_t>> resets_;  // reset_prefix_cache() calls waiting for a step
  std::unordered_set<std::string> live_;       // ids added and not yet given their final output
  std::mt19937_64 rng_;
  bool running_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Engine> Engine::create(const EngineConfig& config, const LoadProgress& progress) {
  return std::make_unique<EngineImpl>(config, progress);
}

}  // namespace tessera
