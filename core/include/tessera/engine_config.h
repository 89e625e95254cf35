// Everything that configures an Engine, named after vLLM's flags (the CLI and the YAML
// config file fill this in). Defaults are the documented ones.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tessera {

struct EngineConfig {
  std::string model;                     // HF model directory or .gguf file
  std::string tokenizer;                 // default: the model directory / GGUF metadata
  std::string device = "auto";           // --device auto|cpu|cuda|xpu[:N]
  std::vector<std::string> plugin_dirs;  // --plugin-dir
  std::map<std::string, std::string> plugin_options;
  std::string dtype = "auto";           // auto|float32|bfloat16|float16
  std::string kv_cache_dtype = "auto";  // only auto (= the activation dtype) is accepted
  std::string quantization;             // ""|int8|int4 (sym_int8|sym_int4)
  int block_size = 16;
  int max_num_seqs = 256;
  int max_num_batched_tokens = 2048;
  int max_model_len = 0;  // 0: the model's max_position_embeddings (capped)
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  // Host swap space for preempted requests' KV blocks. Unset: 4 GiB on an accelerator, none
  // on the CPU device, whose KV cache already is host memory (a preempted request is
  // recomputed instead of copied from one part of RAM to another).
  std::optional<double> swap_space_gib;
  std::string preemption_mode = "auto";  // swap|recompute|auto
  std::string scheduling_policy = "fcfs";
  double scheduler_delay_factor = 0.0;  // delay new prompts while requests run (vLLM's)
  double gpu_memory_utilization = 0.9;
  std::optional<uint64_t> kv_cache_memory_bytes;   // CPU device (--kv-cache-memory)
  std::optional<int64_t> num_gpu_blocks_override;  // tests: force a tiny KV cache
  int max_logprobs = 20;
  bool enforce_eager = false;  // no decode graphs even where the device offers them
  // Ranks the model is split over, one device each (docs/tensor-parallel.md).
  int tensor_parallel_size = 1;
  // Synchronize around each collective so that its time is its own (bench latency).
  bool profile_collectives = false;
  uint64_t seed = 0;  // base seed for requests without one
};

// Parses "8GiB", "512MiB", "2G", "1.5GB", "1073741824" into bytes; throws tessera::Error.
uint64_t parse_byte_size(const std::string& text);

// True when `name` is a value EngineConfig::quantization accepts: "", "none", "int8",
// "sym_int8", "int4", "sym_int4", "fp8".
bool is_quantization_name(const std::string& name);

}  // namespace tessera
