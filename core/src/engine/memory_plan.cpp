#include "engine/memory_plan.h"

#include <cmath>
#include <sstream>

#include "common/check.h"
#include "engine/activation_sizes.h"
#include "engine/memory_sizing.h"
#include "models/tensor_parallel.h"
#include "tessera/plugin.hpp"

namespace tessera::engine {

namespace {

tsr_weight_format linear_format(const PlanInput& in) {
  if (in.quantization == model::Quantization::kInt8) return TSR_WEIGHT_FORMAT_INT8_GROUP;
  if (in.quantization == model::Quantization::kInt4) return TSR_WEIGHT_FORMAT_INT4_GROUP;
  if (in.quantization == model::Quantization::kFp8) return TSR_WEIGHT_FORMAT_FP8_E4M3;
  if (in.quantization == model::Quantization::kDequantize) return TSR_WEIGHT_FORMAT_F32;
  if (in.file_format) return *in.file_format;
  return in.dtype == TSR_DTYPE_F32 ? TSR_WEIGHT_FORMAT_F32 : TSR_WEIGHT_FORMAT_BF16;
}

PlanResult compute(const PlanInput& in) {
  const auto& c = in.config;
  PlanResult r;
  const int tp = std::max(1, in.tensor_parallel_size);
  models::check_tensor_parallel(c, tp);
  r.max_model_len =
      in.max_model_len > 0 ? in.max_model_len : static_cast<int>(c.max_position_embeddings);
  const double elem = static_cast<double>(tsr::sdk::dtype_size(in.dtype));
  const double linear_bpe = model::canonical_bytes_per_element(linear_format(in), 32);
  const double q_dim = static_cast<double>(c.num_heads * c.head_dim);
  const double kv_dim = static_cast<double>(c.num_kv_heads * c.head_dim);
  const double h = static_cast<double>(c.hidden_size);
  const double per_layer_linear =
      h * (q_dim + 2 * kv_dim) + q_dim * h + 3 * h * static_cast<double>(c.intermediate_size);
  // This rank's share of the heads and of the vocabulary (models/tensor_parallel.h): the
  // same layout the loader cuts. Norm weights are whole on every rank; biases are split.
  const models::ShardLayout layout = models::shard_layout(c, {0, tp});
  const double per_layer_vectors = 2 * h + (c.attention_bias ? (q_dim + 2 * kv_dim) / tp : 0) +
                                   (c.qk_norm ? 2.0 * c.head_dim : 0);
  const double kv_local = static_cast<double>(layout.kv_heads * c.head_dim);
  const double per_layer_local_linear =
      per_layer_linear / tp + (2 * h * kv_local - 2 * h * kv_dim / tp);  // KV replication
  const double vocab_h = static_cast<double>(layout.vocab) * h;
  // The embedding table stays in the activation dtype (plus the vocabulary-parallel zero
  // row); the LM head is a linear weight (a second copy even when tied, since the plugin
  // prepacks it in its own layout).
  const double zero_row = layout.vocab_parallel ? h * elem : 0;
  double weights = static_cast<double>(c.num_layers) *
                       (per_layer_local_linear * linear_bpe + per_layer_vectors * elem) +
                   vocab_h * elem + zero_row + vocab_h * linear_bpe + h * elem;
  r.weights = static_cast<uint64_t>(weights);
  model::ModelConfig shard = c;
  shard.num_heads = layout.q_heads;
  shard.num_kv_heads = layout.kv_heads;
  shard.intermediate_size = layout.intermediate;
  const size_t blocks_per_seq =
      static_cast<size_t>((r.max_model_len + in.block_size - 1) / in.block_size);
  r.activations =
      activation_sizes(shard, in.dtype, static_cast<size_t>(in.max_num_batched_tokens),
                       static_cast<size_t>(in.max_num_seqs), blocks_per_seq, 20, c.qk_norm)
          .total();
  const double kv_elem = static_cast<double>(tsr::sdk::dtype_size(in.kv_dtype.value_or(in.dtype)));
  r.kv_block_bytes =
      static_cast<uint64_t>(2.0 * static_cast<double>(shard.num_kv_heads * c.head_dim) *
                            in.block_size * kv_elem * static_cast<double>(c.num_layers));
  int64_t kv_bytes = 0;
  if (in.kv_cache_memory) {
    // CPU ranks share the host's memory, as the engine sizes it (memory_sizing.cpp).
    r.budget = r.weights + r.activations + *in.kv_cache_memory / static_cast<uint64_t>(tp);
    kv_bytes = static_cast<int64_t>(*in.kv_cache_memory / static_cast<uint64_t>(tp));
  } else {
    r.budget =
        static_cast<uint64_t>(in.gpu_memory_utilization * static_cast<double>(in.device_memory));
    kv_bytes = static_cast<int64_t>(r.budget) -
               static_cast<int64_t>(r.weights + r.activations + in.runtime_overhead);
  }
  r.kv_blocks = std::max<int64_t>(
      0, kv_bytes / static_cast<int64_t>(std::max<uint64_t>(r.kv_block_bytes, 1)));
  r.kv_tokens = r.kv_blocks * in.block_size;
  r.max_concurrency = static_cast<double>(r.kv_tokens) / r.max_model_len;
  const int64_t needed = static_cast<int64_t>(blocks_per_seq);
  r.fits = kv_bytes > 0 && r.kv_blocks >= needed;
  if (!r.fits) {
    if (kv_bytes <= 0) {
      r.problems.push_back(fmt::format(
          "weights ({}) + activations at max_num_batched_tokens {} ({}) exceed the budget {}",
          format_bytes(r.weights), in.max_num_batched_tokens, format_bytes(r.activations),
          format_bytes(r.budget)));
    } else {
      r.problems.push_back(fmt::format(
          "the KV cache gets {} ({} tokens) but one sequence of max_model_len {} needs {} "
          "({} blocks of {})",
          format_bytes(static_cast<uint64_t>(kv_bytes)), r.kv_tokens, r.max_model_len,
          format_bytes(static_cast<uint64_t>(needed) * r.kv_block_bytes), needed,
          format_bytes(r.kv_block_bytes)));
    }
  }
  return r;
}

}  // namespace

PlanResult plan_memory(const PlanInput& input) {
  PlanResult r = compute(input);
  if (r.fits && r.max_concurrency >= 1.0) return r;
  // Try each lever alone and report the ones that work.
  auto try_with = [&](PlanInput changed, const std::string& what) {
    const PlanResult alt = compute(changed);
    if (alt.fits) {
      r.suggestions.push_back(fmt::format("{}: KV cache {} tokens, {:.1f} sequences of {}", what,
                                          alt.kv_tokens, alt.max_concurrency, alt.max_model_len));
    }
  };
  {
    // The longest context that fits with the other settings unchanged.
    PlanInput changed = input;
    int lo = 0, hi = r.max_model_len;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      changed.max_model_len = mid;
      if (compute(changed).fits)
        lo = mid;
      else
        hi = mid - 1;
    }
    if (lo >= input.block_size) {
      changed.max_model_len = lo / input.block_size * input.block_size;
      try_with(changed, fmt::format("--max-model-len {}", changed.max_model_len));
    }
  }
  for (int seqs : {64, 16, 1}) {
    if (seqs >= input.max_num_seqs) continue;
    PlanInput changed = input;
    changed.max_num_seqs = seqs;
    changed.max_num_batched_tokens = std::min(input.max_num_batched_tokens, 2048);
    try_with(changed, fmt::format("--max-num-seqs {} --max-num-batched-tokens {}", seqs,
                                  changed.max_num_batched_tokens));
  }
  if (input.quantization != model::Quantization::kInt4 && !input.file_format) {
    for (auto q : {model::Quantization::kInt8, model::Quantization::kInt4}) {
      if (q == input.quantization) continue;
      PlanInput changed = input;
      changed.quantization = q;
      try_with(changed, fmt::format("--quantization {}", model::quantization_name(q)));
    }
  }
  for (int tp : {2, 4, 8}) {
    if (tp <= input.tensor_parallel_size) continue;
    try {
      models::check_tensor_parallel(input.config, tp);
    } catch (const Error&) {
      continue;  // the heads do not divide: not a suggestion
    }
    PlanInput changed = input;
    changed.tensor_parallel_size = tp;
    try_with(changed, fmt::format("--tensor-parallel-size {} ({} devices)", tp, tp));
    break;
  }
  if (!input.kv_cache_memory && input.gpu_memory_utilization < 0.95) {
    PlanInput changed = input;
    changed.gpu_memory_utilization = 0.95;
    try_with(changed, "--gpu-memory-utilization 0.95");
  }
  return r;
}

std::string format_plan(const PlanInput& in, const PlanResult& r) {
  std::ostringstream out;
  const auto& c = in.config;
  out << fmt::format("model       {} ({:.2f} B parameters, {} layers, {} KV heads x {})\n",
                     c.architecture_name, static_cast<double>(c.parameter_count()) / 1e9,
                     c.num_layers, c.num_kv_heads, c.head_dim);
  out << fmt::format(
      "settings    dtype {}, kv cache {}, weights {}, block size {}, max_num_seqs {}, "
      "max_num_batched_tokens {}, max_model_len {}, tensor parallel {}\n",
      tsr::sdk::dtype_name(in.dtype), tsr::sdk::dtype_name(in.kv_dtype.value_or(in.dtype)),
      in.file_format ? "as in the file" : model::quantization_name(in.quantization), in.block_size,
      in.max_num_seqs, in.max_num_batched_tokens, r.max_model_len, in.tensor_parallel_size);
  if (in.kv_cache_memory) {
    out << fmt::format("budget      {} (weights + activations + --kv-cache-memory)\n",
                       format_bytes(r.budget));
  } else {
    out << fmt::format("budget      {} = {:.2f} x {} per device\n", format_bytes(r.budget),
                       in.gpu_memory_utilization, format_bytes(in.device_memory));
  }
  const std::string per_rank = in.tensor_parallel_size > 1
                                   ? fmt::format(" per rank, x {} ranks", in.tensor_parallel_size)
                                   : std::string();
  out << fmt::format("weights     {}{}\n", format_bytes(r.weights), per_rank);
  out << fmt::format("activations {} (one step of {} tokens){}\n", format_bytes(r.activations),
                     in.max_num_batched_tokens, per_rank);
  out << fmt::format("KV cache    {} blocks x {} = {} ({} tokens){}\n", r.kv_blocks,
                     format_bytes(r.kv_block_bytes),
                     format_bytes(static_cast<uint64_t>(r.kv_blocks) * r.kv_block_bytes),
                     r.kv_tokens, per_rank);
  out << fmt::format("concurrency {:.2f} sequences of {} tokens\n", r.max_concurrency,
                     r.max_model_len);
  out << (r.fits ? "verdict     fits\n" : "verdict     DOES NOT FIT\n");
  for (const auto& p : r.problems) out << "  why: " << p << "\n";
  if (!r.suggestions.empty()) {
    out << "what would fit (each change alone):\n";
    for (const auto& s : r.suggestions) out << "  " << s << "\n";
  }
  return out.str();
}

}  // namespace tessera::engine
