// Sizing the KV cache after the weights are loaded (vLLM's profile run): on a GPU/XPU a forward
// pass at max_num_batched_tokens measures what activations and plugin scratch take beyond the
// runner's preallocated buffers; the KV cache gets what is left of the budget. On the CPU the
// pass is 128 tokens: host readings cannot see scratch, and it only times a prefill.
//   device budget = --gpu-memory-utilization x device memory (GPU/XPU);
//   CPU budget    = --kv-cache-memory, default 40% of available RAM after loading, at most
//                   4 GiB (default_cpu_kv_cache_memory, tessera/plan.h).
// The same run measures prefill speed, and a device->host copy measures swap bandwidth, for
// --preemption-mode auto. Fails fast, naming the flag to change, when not even one sequence
// of max_model_len fits.
#pragma once

#include "engine/model_runner.h"
#include "scheduler/preemption_policy.h"
#include "tessera/engine.h"

namespace tessera::engine {

// Share of available host memory the CPU device gives the KV cache by default.
constexpr double kDefaultCpuKvShare = 0.4;

MemoryPlanSummary size_memory(const std::shared_ptr<runtime::Device>& device, ModelRunner& runner,
                              const ModelWeights& weights, const EngineConfig& config,
                              int max_model_len, sched::CostModel* cost);

// "1.23 GiB" for logs and plans.
std::string format_bytes(uint64_t bytes);

}  // namespace tessera::engine
