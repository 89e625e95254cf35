// `tessera plan`: the memory plan of a model on a device, computed from the model's config
// and file headers without loading weights, for a real device or a hypothetical one, with
// what would make it fit. The numbers follow what the engine does at startup: weights as
// prepacked in the canonical formats, activations from activation_sizes() (the runner's own
// allocation), KV blocks of 2 x kv_heads x head_dim x block_size elements per layer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/canonical_weight.h"
#include "model/model_config.h"

namespace tessera::engine {

struct PlanInput {
  model::ModelConfig config;
  // Bytes of every tensor by kind, as stored or as quantized at load.
  tsr_dtype dtype = TSR_DTYPE_BF16;   // activations (and KV cache, unless kv_dtype)
  std::optional<tsr_dtype> kv_dtype;  // --kv-cache-dtype other than auto
  model::Quantization quantization = model::Quantization::kNone;
  // Format of the linear weights already in the file (GGUF Q8_0/Q4_0), when not float.
  std::optional<tsr_weight_format> file_format;
  int block_size = 16;
  int max_num_seqs = 256;
  int max_num_batched_tokens = 2048;
  int max_model_len = 0;  // 0: the model's
  int tensor_parallel_size = 1;
  uint64_t device_memory = 0;  // bytes per device
  double gpu_memory_utilization = 0.9;
  std::optional<uint64_t> kv_cache_memory;  // CPU: the KV budget itself
  uint64_t runtime_overhead = 0;            // bytes the runtime itself takes (CUDA context …)
};

struct PlanResult {
  uint64_t budget = 0;
  uint64_t weights = 0;         // per device
  uint64_t activations = 0;     // per device
  uint64_t kv_block_bytes = 0;  // one block, all layers, per device
  int64_t kv_blocks = 0;
  int64_t kv_tokens = 0;
  int max_model_len = 0;
  double max_concurrency = 0;  // full-length sequences that fit at once
  bool fits = false;
  std::vector<std::string> problems;     // why it does not fit
  std::vector<std::string> suggestions;  // settings that make it fit, each checked
};

PlanResult plan_memory(const PlanInput& input);

// Human-readable report (what `tessera plan` prints).
std::string format_plan(const PlanInput& input, const PlanResult& result);

}  // namespace tessera::engine
