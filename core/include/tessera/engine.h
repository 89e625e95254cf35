// Engine: the serving loop. Loads a model onto a device, sizes the KV cache, and runs
// continuous batching: requests are added from any thread, a background thread (or the
// caller, through step()) schedules, runs the model, samples, detokenizes and streams
// RequestOutputs into each request's OutputChannel.
//
// Thread safety: add_request, abort, metrics and the accessors may be called from any
// thread; step() only when the background thread is not running.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/engine_config.h"
#include "tessera/request_output.h"
#include "tessera/sampling_params.h"
#include "tessera/validate_request.h"

namespace tessera::tokenizer {
class Tokenizer;
}
namespace tessera::engine {
struct EngineMetrics;
}

namespace tessera {

// The memory plan the engine logs at startup and `tessera plan` prints.
struct MemoryPlanSummary {
  std::string device;
  uint64_t budget_bytes = 0;
  uint64_t weight_bytes = 0;      // of one tensor-parallel rank
  uint64_t activation_bytes = 0;  // of one rank
  uint64_t kv_block_bytes = 0;    // one block, all layers, one rank
  int tensor_parallel_size = 1;
  int64_t num_kv_blocks = 0;
  int64_t kv_tokens = 0;
  int64_t num_swap_blocks = 0;
  int max_model_len = 0;
  double max_concurrency = 0;  // kv_tokens / max_model_len
};

struct ModelSummary {
  std::string path;
  std::string architecture;
  std::string dtype;
  std::string quantization;
  std::string linear_formats;  // the linear weights' formats as loaded, e.g. "int8_group x211"
  int64_t vocab_size = 0;
  uint64_t weight_bytes_per_token = 0;  // decode roofline numerator (of one rank)
  // Multiply-adds of one token through the linear layers (LM head included) of one rank,
  // and what attention adds per (query, key) pair over all layers: prefill FLOP/s.
  uint64_t linear_macs_per_token = 0;
  uint64_t attention_macs_per_pair = 0;
  int tensor_parallel_size = 1;
};

// The model's first gate/up GEMM timed alone (Engine::calibrate_prefill_gemm).
struct GemmCalibration {
  int64_t rows = 0;          // activation rows (M)
  int64_t out_features = 0;  // N
  int64_t in_features = 0;   // K
  double seconds = 0;        // best timed run
  double gflops() const {
    return seconds > 0 ? 2.0 * static_cast<double>(rows) * static_cast<double>(out_features) *
                             static_cast<double>(in_features) / seconds / 1e9
                       : 0.0;
  }
};

class Engine {
 public:
  // (bytes done, bytes total) while weights load.
  using LoadProgress = std::function<void(uint64_t, uint64_t)>;

  // Loads everything; throws tessera::Error with one clear line on any bad input.
  static std::unique_ptr<Engine> create(const EngineConfig& config,
                                        const LoadProgress& progress = {});
  virtual ~Engine() = default;

  // Validates (validate_request with request_limits()) and queues a request. Throws
  // tessera::Error (kInvalidArgument, field() naming the field) for bad sampling values, an
  // empty prompt, a duplicate id ("id"), or a request that can never fit (prompt +
  // max_tokens beyond max_model_len or the KV cache).
  virtual std::shared_ptr<OutputChannel> add_request(const std::string& id,
                                                     std::vector<int32_t> prompt_token_ids,
                                                     const SamplingParams& params) = 0;
  // Aborts at the next step and frees its blocks; a final output with finish_reason "abort"
  // is pushed. `disconnected` counts it as aborted by a client disconnect.
  virtual void abort(const std::string& id, bool disconnected = false) = 0;

  virtual void start() = 0;  // background engine thread
  virtual void stop() = 0;   // aborts what is left and joins the thread
  // One step on the caller's thread; false when there was nothing to do.
  virtual bool step() = 0;
  virtual bool has_unfinished() const = 0;

  virtual engine::EngineMetrics metrics() const = 0;
  virtual const tokenizer::Tokenizer& tokenizer() const = 0;
  virtual const MemoryPlanSummary& memory_plan() const = 0;
  virtual const ModelSummary& model() const = 0;
  virtual const EngineConfig& config() const = 0;
  virtual int max_model_len() const = 0;
  // Times the plugin's linear op alone on the model's own first gate/up weight with `rows`
  // activation rows (best of `repeats`): the same-run GEMM peak `bench latency` quotes
  // beside prefill FLOP/s. Only while the background thread is not running; nullopt under
  // tensor parallelism or for a family without that weight.
  virtual std::optional<GemmCalibration> calibrate_prefill_gemm(int64_t rows, int repeats) = 0;
  // What validate_request checks requests against.
  virtual RequestLimits request_limits() const = 0;
  // Forgets the prefix cache's blocks that no request holds (vLLM's POST
  // /reset_prefix_cache), so that a benchmark's next run does not reuse the prompts of the
  // last. Safe from any thread: with the background thread running it waits for the next step
  // boundary. Returns how many KV blocks lost their cache entry.
  virtual int64_t reset_prefix_cache() = 0;
  // Number of KV blocks in use (0 when idle): tests check every block is freed.
  virtual int64_t blocks_in_use() const = 0;
  // The device's memory as its plugin reports it (for /metrics; on the CPU device, host
  // RAM); nullopt when the plugin cannot say. Safe from any thread.
  struct DeviceMemory {
    uint64_t free_bytes = 0;
    uint64_t total_bytes = 0;
  };
  virtual std::optional<DeviceMemory> device_memory() const { return std::nullopt; }
};

}  // namespace tessera
