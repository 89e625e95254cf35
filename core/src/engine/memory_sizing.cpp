#include "engine/memory_sizing.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/check.h"
#include "common/log.h"
#include "runtime/stream.h"
#include "tessera/plan.h"

namespace tessera::engine {

std::string format_bytes(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return fmt::format("{:.1f} MiB", b / (1024.0 * 1024));
  if (b >= 1024.0) return fmt::format("{:.1f} KiB", b / 1024.0);
  return fmt::format("{} B", bytes);
}

namespace {

// A batch of `tokens` tokens in sequences of at most `max_len`, on distinct KV slots.
ForwardBatch profile_batch(int tokens, int max_len, int max_seqs, int block_size,
                           int* blocks_needed) {
  ForwardBatch batch;
  batch.query_start_loc.push_back(0);
  int next_block = 0;
  int remaining = tokens;
  std::vector<std::vector<int32_t>> tables;
  while (remaining > 0 && static_cast<int>(tables.size()) < max_seqs) {
    const int len = std::min(remaining, max_len);
    std::vector<int32_t> table;
    for (int pos = 0; pos < len; ++pos) {
      if (pos % block_size == 0) table.push_back(next_block++);
      batch.input_ids.push_back(pos % 100);
      batch.positions.push_back(pos);
      batch.slot_mapping.push_back(int64_t{table.back()} * block_size + pos % block_size);
    }
    batch.query_start_loc.push_back(batch.num_tokens());
    batch.seq_lens.push_back(len);
    batch.logits_indices.push_back(batch.num_tokens() - 1);
    tables.push_back(std::move(table));
    remaining -= len;
  }
  size_t width = 1;
  for (const auto& t : tables) width = std::max(width, t.size());
  batch.max_blocks_per_seq = static_cast<int32_t>(width);
  for (const auto& t : tables) {
    for (size_t i = 0; i < width; ++i) batch.block_tables.push_back(i < t.size() ? t[i] : 0);
  }
  *blocks_needed = next_block;
  return batch;
}

}  // namespace

MemoryPlanSummary size_memory(const std::shared_ptr<runtime::Device>& device_ptr,
                              ModelRunner& runner, const ModelWeights& weights,
                              const EngineConfig& config, int max_model_len,
                              sched::CostModel* cost) {
  runtime::Device& device = *device_ptr;
  MemoryPlanSummary plan;
  plan.device = device.label() + " (" + device.info().properties.name + ")";
  plan.weight_bytes = weights.device_bytes();
  plan.kv_block_bytes = runner.kv_block_bytes_all_layers();
  plan.max_model_len = max_model_len;
  plan.tensor_parallel_size = runner.tensor_parallel_size();
  const auto ranks = static_cast<uint64_t>(plan.tensor_parallel_size);
  const bool is_cpu = device.info().properties.type == TSR_DEVICE_TYPE_CPU;

  // Profile run at the step budget: on a GPU it measures the scratch memory the plugin takes
  // beyond our buffers. A CPU's host memory readings are too noisy for that (below), so there
  // it only times a prefill for the cost model, and a short one does: a full step budget of
  // an 853M model took 37 s of startup on 2 cores (a 7B model would take minutes), the way
  // vLLM's CPU worker skips profiling too.
  constexpr int kCpuProfileTokens = 128;
  int blocks = 0;
  const int tokens = is_cpu ? std::min(config.max_num_batched_tokens, kCpuProfileTokens)
                            : config.max_num_batched_tokens;
  const ForwardBatch batch = profile_batch(tokens, std::min(max_model_len, tokens),
                                           config.max_num_seqs, config.block_size, &blocks);
  const auto before = device.memory_info();
  runner.allocate_kv_cache(blocks);
  const auto start = std::chrono::steady_clock::now();
  runner.forward(batch);
  runner.synchronize();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto after = device.memory_info();
  const uint64_t profile_kv = static_cast<uint64_t>(blocks) * runner.kv_block_bytes_all_layers();
  // Scratch the plugin took beyond our buffers (host memory readings are noisy on a CPU, where
  // other processes move MemAvailable, so only device readings count).
  uint64_t scratch = 0;
  if (!is_cpu && before.free_bytes > after.free_bytes + profile_kv) {
    scratch = before.free_bytes - after.free_bytes - profile_kv;
  }
  plan.activation_bytes = runner.activation_bytes() + scratch;
  if (cost != nullptr) {
    cost->bytes_per_block = static_cast<double>(runner.kv_block_bytes_all_layers());
    cost->prefill_tokens_per_s = seconds > 0 ? batch.num_tokens() / seconds : 0;
  }

  int64_t kv_bytes = 0;
  if (config.num_gpu_blocks_override) {
    kv_bytes = *config.num_gpu_blocks_override * static_cast<int64_t>(plan.kv_block_bytes);
    plan.budget_bytes = plan.weight_bytes + plan.activation_bytes + static_cast<uint64_t>(kv_bytes);
  } else if (is_cpu) {
    const auto info = device.memory_info();
    const uint64_t kv_memory =
        config.kv_cache_memory_bytes.value_or(default_cpu_kv_cache_memory(info.free_bytes));
    if (kv_memory > info.total_bytes) {
      throw Error(fmt::format("--kv-cache-memory {} exceeds the memory of {} ({} in all, {} "
                              "free): lower --kv-cache-memory",
                              format_bytes(kv_memory), plan.device, format_bytes(info.total_bytes),
                              format_bytes(info.free_bytes)),
                  ErrorKind::kResourceExhausted);
    }
    // CPU ranks share the host's memory: each rank's cache gets its share of the budget.
    kv_bytes = static_cast<int64_t>(kv_memory / ranks);
    plan.budget_bytes = plan.weight_bytes + plan.activation_bytes + kv_memory / ranks;
  } else {
    const auto info = device.memory_info();
    TSR_CHECK(config.gpu_memory_utilization > 0 && config.gpu_memory_utilization <= 1,
              "--gpu-memory-utilization must be in (0, 1], got {}", config.gpu_memory_utilization);
    plan.budget_bytes = static_cast<uint64_t>(config.gpu_memory_utilization *
                                              static_cast<double>(info.total_bytes));
    // What is in use now (weights, activations, the runtime's context) stays in use.
    const uint64_t used = info.total_bytes - after.free_bytes + scratch;
    kv_bytes = static_cast<int64_t>(plan.budget_bytes) - static_cast<int64_t>(used);
  }
  plan.num_kv_blocks = std::max<int64_t>(0, kv_bytes / static_cast<int64_t>(plan.kv_block_bytes));
  plan.kv_tokens = plan.num_kv_blocks * config.block_size;
  plan.max_concurrency =
      static_cast<double>(plan.kv_tokens) / static_cast<double>(std::max(max_model_len, 1));
  const int64_t one_sequence = (max_model_len + config.block_size - 1) / config.block_size;
  if (plan.num_kv_blocks < one_sequence) {
    const char* flag = config.num_gpu_blocks_override ? "--num-gpu-blocks-override"
                       : is_cpu                       ? "--kv-cache-memory"
                                                      : "--gpu-memory-utilization";
    throw Error(
        fmt::format(
            "not enough memory for the KV cache: {} blocks ({} tokens) fit but one sequence of "
            "--max-model-len {} needs {} blocks ({} per block); raise {}, lower --max-model-len, "
            "or use --quantization int8|int4 to shrink the weights ({})",
            plan.num_kv_blocks, plan.kv_tokens, max_model_len, one_sequence,
            format_bytes(plan.kv_block_bytes), flag, format_bytes(plan.weight_bytes)),
        ErrorKind::kResourceExhausted);
  }
  const double swap_gib = config.swap_space_gib.value_or(is_cpu ? 0.0 : 4.0);
  const uint64_t swap_bytes = static_cast<uint64_t>(swap_gib * 1024 * 1024 * 1024);
  // Every rank's swap space lives in the one host memory: --swap-space is their sum.
  plan.num_swap_blocks = static_cast<int64_t>(swap_bytes / (plan.kv_block_bytes * ranks));

  // Host <-> device copy bandwidth for the swap-or-recompute choice.
  if (cost != nullptr && plan.num_swap_blocks > 0) {
    const size_t bytes = 16u << 20;
    auto stream = runtime::Stream::create(device_ptr);
    auto src = runtime::Buffer::allocate(device_ptr, bytes);
    auto dst = runtime::Buffer::allocate(device_ptr, bytes, TSR_BUFFER_KIND_HOST_PINNED);
    stream.fill(src, 0, 1, bytes);
    stream.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    stream.copy(dst, 0, src, 0, bytes);
    stream.synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cost->copy_bytes_per_s = s > 0 ? static_cast<double>(bytes) / s : 0;
  }

  TSR_LOG_INFO(
      "memory plan on {}{}: weights {}, activations {}, KV cache {} blocks x {} = {} ({} tokens), "
      "max concurrency {:.1f} at max_model_len {}, swap space {} blocks",
      plan.device,
      ranks > 1 ? fmt::format(" (each of {} tensor-parallel ranks)", ranks) : std::string(),
      format_bytes(plan.weight_bytes), format_bytes(plan.activation_bytes), plan.num_kv_blocks,
      format_bytes(plan.kv_block_bytes),
      format_bytes(static_cast<uint64_t>(plan.num_kv_blocks) * plan.kv_block_bytes), plan.kv_tokens,
      plan.max_concurrency, max_model_len, plan.num_swap_blocks);
  return plan;
}

}  // namespace tessera::engine
