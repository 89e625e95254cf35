// Public: `tessera plan` as a library call. The memory plan of a model on a device (weights,
// activations, KV blocks and tokens, concurrency at max_model_len), computed from the
// model's config and file headers without loading weights, with what would make it fit. The
// numbers follow what Engine::create does at startup.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tessera {

struct PlanOptions {
  std::string model;                    // HF model directory, its config.json, or a .gguf file
  std::string dtype = "bfloat16";       // float32, bfloat16, float16: activations (and KV cache)
  std::string kv_cache_dtype = "auto";  // auto (dtype), float32, bfloat16, float16
  std::string quantization;             // "" (as stored), int8, int4, sym_int8, sym_int4, fp8
  int block_size = 16;                  // tokens per KV block
  int max_num_seqs = 256;               // running requests at most
  int max_num_batched_tokens = 2048;
  int max_model_len = 0;         // 0: the model's
  int tensor_parallel_size = 1;  // devices the model is split over
  uint64_t device_memory = 0;    // bytes of one device (a real one or a hypothetical one)
  double gpu_memory_utilization = 0.9;
  std::optional<uint64_t> kv_cache_memory;  // CPU device: the KV cache budget itself
};

struct PlanReport {
  bool fits = false;
  std::string text;  // what `tessera plan` prints: the plan, and if it does not fit, why and
                     // which settings would make it fit
};

// The CPU device's KV cache when --kv-cache-memory is not given: 40% of the host's available
// memory, at most 4 GiB (the default of vLLM's CPU backend, VLLM_CPU_KVCACHE_SPACE). The cache
// is written in full when allocated, so this is what a server occupies from its start.
uint64_t default_cpu_kv_cache_memory(uint64_t available_bytes);

// Throws tessera::Error for an unreadable model, an unknown dtype or quantization, or a
// non-positive size.
PlanReport plan_model(const PlanOptions& options);

}  // namespace tessera
