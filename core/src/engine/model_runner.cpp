#include "engine/model_runner.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "common/log.h"
#include "engine/activation_sizes.h"
#include "tessera/plugin.hpp"

namespace tessera::engine {

namespace {

tsr_rope_scaling rope_scaling_of(model::RopeScalingType type) {
  switch (type) {
    case model::RopeScalingType::kLinear:
      return TSR_ROPE_SCALING_LINEAR;
    case model::RopeScalingType::kLlama3:
      return TSR_ROPE_SCALING_LLAMA3;
    case model::RopeScalingType::kNone:
      break;
  }
  return TSR_ROPE_SCALING_NONE;
}

const tsr_tensor kAbsent{sizeof(tsr_tensor), nullptr, 0, TSR_DTYPE_INVALID, 0, {0, 0, 0, 0}};

}  // namespace

ModelRunner::ModelRunner(std::shared_ptr<runtime::Device> device, const ModelWeights& weights,
                         const RunnerOptions& options)
    : device_(std::move(device)),
      weights_(weights),
      options_(options),
      stream_(runtime::Stream::create(device_)),
      dtype_(weights.activation_dtype()) {
  const auto& cfg = weights.config();
  TSR_CHECK(options_.max_num_tokens > 0 && options_.max_num_seqs > 0 && options_.block_size > 0,
            "max_num_batched_tokens, max_num_seqs and block_size must be positive");
  if (options_.max_blocks_per_seq <= 0) {
    options_.max_blocks_per_seq = static_cast<int32_t>(
        (cfg.max_position_embeddings + options_.block_size - 1) / options_.block_size);
  }
  const auto t = static_cast<size_t>(options_.max_num_tokens);
  const auto seqs = static_cast<size_t>(options_.max_num_seqs);
  const auto sizes =
      activation_sizes(cfg, dtype_, t, seqs, static_cast<size_t>(options_.max_blocks_per_seq),
                       static_cast<size_t>(options_.max_logprobs), weights.spec().qk_norm);
  const size_t rows = sizes.logit_rows;
  auto alloc = [&](size_t bytes) {
    activation_bytes_ += bytes;
    return runtime::Buffer::allocate(device_, bytes);
  };
  hidden_ = alloc(sizes.hidden);
  normed_ = alloc(sizes.normed);
  q_ = alloc(sizes.q);
  k_ = alloc(sizes.k);
  v_ = alloc(sizes.v);
  if (weights.spec().qk_norm) {
    q_normed_ = alloc(sizes.q_normed);
    k_normed_ = alloc(sizes.k_normed);
  }
  attn_ = alloc(sizes.attn);
  o_out_ = alloc(sizes.o_out);
  gate_up_ = alloc(sizes.gate_up);
  act_ = alloc(sizes.act);
  mlp_out_ = alloc(sizes.mlp_out);
  gathered_ = alloc(sizes.gathered);
  logits_ = alloc(sizes.logits);
  // Step inputs and sampling buffers: small, accounted as sizes.step_inputs/.sampling.
  ids_ = alloc(t * 4);
  positions_ = alloc(t * 4);
  slots_ = alloc(t * 8);
  query_start_loc_ = alloc((seqs + 1) * 4);
  seq_lens_ = alloc(seqs * 4);
  block_tables_ = alloc(seqs * static_cast<size_t>(options_.max_blocks_per_seq) * 4);
  logits_indices_ = alloc(rows * 4);
  temperature_ = alloc(rows * 4);
  top_k_ = alloc(rows * 4);
  top_p_ = alloc(rows * 4);
  min_p_ = alloc(rows * 4);
  repetition_ = alloc(rows * 4);
  presence_ = alloc(rows * 4);
  frequency_ = alloc(rows * 4);
  seeds_ = alloc(rows * 8);
  history_offsets_ = alloc((rows + 1) * 4);
  history_prompt_lens_ = alloc(rows * 4);
  out_tokens_ = alloc(rows * 4);
  out_logprobs_ = alloc(rows * 4);
  top_ids_ = alloc(rows * static_cast<size_t>(options_.max_logprobs) * 4 + 4);
  top_values_ = alloc(rows * static_cast<size_t>(options_.max_logprobs) * 4 + 4);
  block_bytes_ = device_->kv_block_bytes(kv_layout());
  // Fail at construction, naming the op, rather than mid-step on a NULL entry.
  const tsr_ops_api& ops = device_->ops();
  const std::pair<const void*, const char*> needed[] = {
      {reinterpret_cast<const void*>(ops.embedding), "embedding"},
      {reinterpret_cast<const void*>(ops.rms_norm), "rms_norm"},
      {reinterpret_cast<const void*>(ops.linear), "linear"},
      {reinterpret_cast<const void*>(ops.rope), "rope"},
      {reinterpret_cast<const void*>(ops.kv_cache_write), "kv_cache_write"},
      {reinterpret_cast<const void*>(ops.paged_attention), "paged_attention"},
      {reinterpret_cast<const void*>(ops.silu_mul), "silu_mul"},
      {reinterpret_cast<const void*>(ops.gather_rows), "gather_rows"},
      {reinterpret_cast<const void*>(ops.sample), "sample"},
      {reinterpret_cast<const void*>(ops.copy_blocks), "copy_blocks"},
      {reinterpret_cast<const void*>(ops.swap_blocks), "swap_blocks"}};
  for (const auto& [fn, name] : needed) {
    TSR_CHECK_KIND(fn != nullptr, ErrorKind::kUnavailable,
                   "device {} (plugin {}) does not implement the '{}' op yet, so it cannot run "
                   "models; use another --device",
                   device_->label(), device_->plugin().name(), name);
  }
  graphs_enabled_ = options_.use_graphs && runtime::Graph::supported(*device_);
  if (options_.graph_batch_sizes.empty()) {
    const int32_t largest = std::min(options_.max_num_seqs, 256);
    for (int32_t size : {1, 2, 4}) {
      if (size < largest) options_.graph_batch_sizes.push_back(size);
    }
    for (int32_t size = 8; size < largest; size += 8) options_.graph_batch_sizes.push_back(size);
    options_.graph_batch_sizes.push_back(largest);
  }
  std::sort(options_.graph_batch_sizes.begin(), options_.graph_batch_sizes.end());
  // A graph pads to its size, so sizes beyond what the buffers hold are dropped.
  const int32_t fits = std::min(options_.max_num_seqs, options_.max_num_tokens);
  std::erase_if(options_.graph_batch_sizes, [&](int32_t size) { return size < 1 || size > fits; });
}

std::vector<int32_t> ModelRunner::captured_graph_sizes() const {
  std::vector<int32_t> sizes;
  for (const auto& [size, graph] : graphs_) sizes.push_back(size);
  return sizes;
}

tsr_kv_layout ModelRunner::kv_layout() const {
  const auto& cfg = weights_.config();
  tsr_kv_layout layout{};
  layout.struct_size = sizeof(layout);
  layout.num_kv_heads = static_cast<int32_t>(cfg.num_kv_heads);
  layout.head_dim = static_cast<int32_t>(cfg.head_dim);
  layout.block_size = options_.block_size;
  layout.dtype = options_.kv_dtype;
  return layout;
}

uint64_t ModelRunner::kv_block_bytes_all_layers() const {
  return block_bytes_ * static_cast<uint64_t>(weights_.config().num_layers);
}

void ModelRunner::allocate_kv_cache(int64_t num_blocks) {
  TSR_CHECK(num_blocks > 0, "the KV cache needs at least one block");
  // Captured graphs name the old cache buffers.
  graphs_.clear();
  kv_cache_.clear();
  for (int64_t layer = 0; layer < weights_.config().num_layers; ++layer) {
    kv_cache_.push_back(
        runtime::Buffer::allocate(device_, block_bytes_ * static_cast<uint64_t>(num_blocks)));
  }
  num_blocks_ = num_blocks;
}

void ModelRunner::allocate_swap_space(int64_t num_host_blocks) {
  swap_space_.clear();
  num_swap_blocks_ = 0;
  if (num_host_blocks <= 0) return;
  for (int64_t layer = 0; layer < weights_.config().num_layers; ++layer) {
    swap_space_.push_back(
        runtime::Buffer::allocate(device_, block_bytes_ * static_cast<uint64_t>(num_host_blocks),
                                  TSR_BUFFER_KIND_HOST_PINNED));
  }
  num_swap_blocks_ = num_host_blocks;
}

tsr_tensor ModelRunner::tensor(const runtime::Buffer& buffer, tsr_dtype dtype,
                               std::initializer_list<int64_t> shape) const {
  tsr_tensor t{};
  t.struct_size = sizeof(t);
  t.buffer = buffer.handle();
  t.dtype = dtype;
  t.ndim = static_cast<int32_t>(shape.size());
  int i = 0;
  for (int64_t d : shape) t.shape[i++] = d;
  return t;
}

template <class T>
void ModelRunner::upload(const runtime::Buffer& buffer, const std::vector<T>& values) {
  if (!values.empty()) stream_.copy_to_device(buffer, 0, values.data(), values.size() * sizeof(T));
}

void ModelRunner::forward(const ForwardBatch& batch) {
  const int64_t t = batch.num_tokens();
  const int64_t b = batch.num_seqs();
  const int64_t rows = static_cast<int64_t>(batch.logits_indices.size());
  TSR_CHECK(t > 0 && t <= options_.max_num_tokens, "batch of {} tokens exceeds the runner's {}", t,
            options_.max_num_tokens);
  const int64_t row_capacity = std::min(options_.max_num_tokens, options_.max_num_seqs);
  TSR_CHECK(b > 0 && b <= options_.max_num_seqs && rows <= std::min(row_capacity, t),
            "batch of {} sequences ({} logit rows) exceeds the runner's {} ({} rows)", b, rows,
            options_.max_num_seqs, row_capacity);
  TSR_CHECK(batch.max_blocks_per_seq > 0 && batch.max_blocks_per_seq <= options_.max_blocks_per_seq,
            "batch block table width {} exceeds {}", batch.max_blocks_per_seq,
            options_.max_blocks_per_seq);
  TSR_CHECK(!kv_cache_.empty(), "allocate_kv_cache() before forward()");
  if (const int32_t size = graph_size_for(batch); size > 0) {
    forward_with_graph(batch, size);
    return;
  }
  upload_inputs(batch);
  StepShape shape;
  shape.tokens = t;
  shape.seqs = b;
  shape.logit_rows = rows;
  shape.table_width = batch.max_blocks_per_seq;
  shape.max_seq_len = *std::max_element(batch.seq_lens.begin(), batch.seq_lens.end());
  enqueue_forward(shape);
  num_logit_rows_ = static_cast<int32_t>(rows);
}

void ModelRunner::upload_inputs(const ForwardBatch& batch) {
  upload(ids_, batch.input_ids);
  upload(positions_, batch.positions);
  upload(slots_, batch.slot_mapping);
  upload(query_start_loc_, batch.query_start_loc);
  upload(seq_lens_, batch.seq_lens);
  upload(block_tables_, batch.block_tables);
  upload(logits_indices_, batch.logits_indices);
}

int32_t ModelRunner::graph_size_for(const ForwardBatch& batch) const {
  if (!graphs_enabled_) return 0;
  const int32_t b = batch.num_seqs();
  if (batch.num_tokens() != b || static_cast<int32_t>(batch.logits_indices.size()) != b) return 0;
  for (int32_t i = 0; i < b; ++i) {
    if (batch.query_start_loc[static_cast<size_t>(i) + 1] != i + 1 ||
        batch.logits_indices[static_cast<size_t>(i)] != i) {
      return 0;
    }
  }
  for (int32_t size : options_.graph_batch_sizes) {
    if (size >= b) return size;
  }
  return 0;
}

void ModelRunner::forward_with_graph(const ForwardBatch& batch, int32_t size) {
  const int32_t b = batch.num_seqs();
  const int32_t width = options_.max_blocks_per_seq;
  // Padding rows: token 0 at position 0, no KV write (slot -1), a context of one token in
  // block 0 (any valid block: the row's output is never read).
  // A member, so its vectors keep their capacity from step to step.
  ForwardBatch& padded = graph_inputs_;
  padded.input_ids = batch.input_ids;
  padded.input_ids.resize(static_cast<size_t>(size), 0);
  padded.positions = batch.positions;
  padded.positions.resize(static_cast<size_t>(size), 0);
  padded.slot_mapping = batch.slot_mapping;
  padded.slot_mapping.resize(static_cast<size_t>(size), -1);
  padded.seq_lens = batch.seq_lens;
  padded.seq_lens.resize(static_cast<size_t>(size), 1);
  padded.query_start_loc.resize(static_cast<size_t>(size) + 1);
  padded.logits_indices.resize(static_cast<size_t>(size));
  for (int32_t i = 0; i <= size; ++i) padded.query_start_loc[static_cast<size_t>(i)] = i;
  for (int32_t i = 0; i < size; ++i) padded.logits_indices[static_cast<size_t>(i)] = i;
  padded.block_tables.assign(static_cast<size_t>(size) * static_cast<size_t>(width), 0);
  for (int32_t i = 0; i < b; ++i) {
    const auto src =
        batch.block_tables.begin() + static_cast<ptrdiff_t>(i) * batch.max_blocks_per_seq;
    std::copy(src, src + batch.max_blocks_per_seq,
              padded.block_tables.begin() + static_cast<ptrdiff_t>(i) * width);
  }
  padded.max_blocks_per_seq = width;
  upload_inputs(padded);
  num_logit_rows_ = b;

  StepShape shape;
  shape.tokens = size;
  shape.seqs = size;
  shape.logit_rows = size;
  shape.table_width = width;
  shape.max_seq_len = width * options_.block_size;
  auto found = graphs_.find(size);
  if (found != graphs_.end()) {
    found->second.launch(stream_);
    return;
  }
  // First use of this size: run it eagerly (this step's result), then record the same work.
  enqueue_forward(shape);
  try {
    runtime::Graph::begin_capture(stream_);
    try {
      enqueue_forward(shape);
    } catch (...) {
      runtime::Graph::abandon_capture(stream_);
      throw;
    }
    graphs_.emplace(size, runtime::Graph::end_capture(stream_));
    TSR_LOG_DEBUG("captured the decode graph for batch size {}", size);
  } catch (const std::exception& e) {
    TSR_LOG_WARN("decode graph capture failed on {} ({}); running eagerly from now on",
                 device_->label(), e.what());
    graphs_enabled_ = false;
    graphs_.clear();
  }
}

void ModelRunner::enqueue_forward(const StepShape& shape) {
  const auto& cfg = weights_.config();
  const auto& spec = weights_.spec();
  const auto& ops = device_->ops();
  const tsr_stream_t s = stream_.handle();
  const int64_t t = shape.tokens;
  const int64_t b = shape.seqs;
  const int64_t rows = shape.logit_rows;
  const int64_t h = cfg.hidden_size;
  const int64_t hq = cfg.num_heads;
  const int64_t hkv = cfg.num_kv_heads;
  const int64_t d = cfg.head_dim;
  const int64_t inter = cfg.intermediate_size;
  auto check = [&](tsr_error* error, const char* op) { device_->check(error, op); };

  auto rms_norm = [&](const runtime::Buffer& x, const runtime::Buffer* residual,
                      const runtime::Buffer& weight, const runtime::Buffer& out, int64_t rows_n,
                      int64_t width) {
    tsr_rms_norm_params p{};
    p.struct_size = sizeof(p);
    p.x = tensor(x, dtype_, {rows_n, width});
    p.weight = tensor(weight, dtype_, {width});
    p.residual = residual ? tensor(*residual, dtype_, {rows_n, width}) : kAbsent;
    p.out = tensor(out, dtype_, {rows_n, width});
    p.eps = static_cast<float>(cfg.rms_norm_eps);
    check(ops.rms_norm(s, &p), "rms_norm");
  };
  auto linear = [&](const runtime::Buffer& x, int64_t m, int64_t k, const runtime::Weight& w,
                    const runtime::Buffer* bias, const runtime::Buffer& out, int64_t n,
                    tsr_dtype out_dtype) {
    tsr_linear_params p{};
    p.struct_size = sizeof(p);
    p.x = tensor(x, dtype_, {m, k});
    p.weight = w.handle();
    p.bias = bias && bias->valid() ? tensor(*bias, dtype_, {n}) : kAbsent;
    p.out = tensor(out, out_dtype, {m, n});
    check(ops.linear(s, &p), "linear");
  };

  {
    tsr_embedding_params p{};
    p.struct_size = sizeof(p);
    p.ids = tensor(ids_, TSR_DTYPE_I32, {t});
    p.table = tensor(weights_.embedding, dtype_, {cfg.vocab_size, h});
    p.out = tensor(hidden_, dtype_, {t, h});
    check(ops.embedding(s, &p), "embedding");
  }
  for (int64_t layer = 0; layer < cfg.num_layers; ++layer) {
    const auto& lw = weights_.layers[static_cast<size_t>(layer)];
    // hidden_ is the residual stream; the first layer normalizes it directly, later ones
    // first add the previous MLP output into it.
    rms_norm(layer == 0 ? hidden_ : mlp_out_, layer == 0 ? nullptr : &hidden_, lw.attn_norm,
             normed_, t, h);
    linear(normed_, t, h, lw.q, spec.qkv_bias ? &lw.q_bias : nullptr, q_, hq * d, dtype_);
    linear(normed_, t, h, lw.k, spec.qkv_bias ? &lw.k_bias : nullptr, k_, hkv * d, dtype_);
    linear(normed_, t, h, lw.v, spec.qkv_bias ? &lw.v_bias : nullptr, v_, hkv * d, dtype_);
    const runtime::Buffer* q = &q_;
    const runtime::Buffer* k = &k_;
    if (spec.qk_norm) {
      rms_norm(q_, nullptr, lw.q_norm, q_normed_, t * hq, d);
      rms_norm(k_, nullptr, lw.k_norm, k_normed_, t * hkv, d);
      q = &q_normed_;
      k = &k_normed_;
    }
    {
      tsr_rope_params p{};
      p.struct_size = sizeof(p);
      p.query = tensor(*q, dtype_, {t, hq, d});
      p.key = tensor(*k, dtype_, {t, hkv, d});
      p.positions = tensor(positions_, TSR_DTYPE_I32, {t});
      p.rotary_dim = static_cast<int32_t>(d);
      p.neox_style = cfg.rope_neox_style ? 1 : 0;
      p.theta = static_cast<float>(cfg.rope_theta);
      p.scaling = rope_scaling_of(cfg.rope_scaling.type);
      p.factor = static_cast<float>(cfg.rope_scaling.factor);
      p.low_freq_factor = static_cast<float>(cfg.rope_scaling.low_freq_factor);
      p.high_freq_factor = static_cast<float>(cfg.rope_scaling.high_freq_factor);
      p.original_max_position = static_cast<int32_t>(cfg.rope_scaling.original_max_position);
      check(ops.rope(s, &p), "rope");
    }
    const auto& cache = kv_cache_[static_cast<size_t>(layer)];
    {
      tsr_kv_cache_write_params p{};
      p.struct_size = sizeof(p);
      p.key = tensor(*k, dtype_, {t, hkv, d});
      p.value = tensor(v_, dtype_, {t, hkv, d});
      p.slot_mapping = tensor(slots_, TSR_DTYPE_I64, {t});
      p.cache = cache.handle();
      p.layout = kv_layout();
      p.num_blocks = num_blocks_;
      check(ops.kv_cache_write(s, &p), "kv_cache_write");
    }
    {
      tsr_paged_attention_params p{};
      p.struct_size = sizeof(p);
      p.query = tensor(*q, dtype_, {t, hq, d});
      p.out = tensor(attn_, dtype_, {t, hq, d});
      p.cache = cache.handle();
      p.layout = kv_layout();
      p.num_blocks = num_blocks_;
      p.query_start_loc = tensor(query_start_loc_, TSR_DTYPE_I32, {b + 1});
      p.seq_lens = tensor(seq_lens_, TSR_DTYPE_I32, {b});
      p.block_tables = tensor(block_tables_, TSR_DTYPE_I32, {b, shape.table_width});
      p.num_query_heads = static_cast<int32_t>(hq);
      p.max_seq_len = shape.max_seq_len;
      p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
      p.sliding_window = static_cast<int32_t>(cfg.sliding_window);
      p.logit_softcap = 0.0f;
      check(ops.paged_attention(s, &p), "paged_attention");
    }
    linear(attn_, t, hq * d, lw.o, nullptr, o_out_, h, dtype_);
    rms_norm(o_out_, &hidden_, lw.ffn_norm, normed_, t, h);
    linear(normed_, t, h, lw.gate_up, nullptr, gate_up_, 2 * inter, dtype_);
    {
      tsr_silu_mul_params p{};
      p.struct_size = sizeof(p);
      p.x = tensor(gate_up_, dtype_, {t, 2 * inter});
      p.out = tensor(act_, dtype_, {t, inter});
      check(ops.silu_mul(s, &p), "silu_mul");
    }
    linear(act_, t, inter, lw.down, nullptr, mlp_out_, h, dtype_);
  }
  rms_norm(mlp_out_, &hidden_, weights_.final_norm, normed_, t, h);
  if (rows == 0) return;
  {
    tsr_gather_rows_params p{};
    p.struct_size = sizeof(p);
    p.x = tensor(normed_, dtype_, {t, h});
    p.indices = tensor(logits_indices_, TSR_DTYPE_I32, {rows});
    p.out = tensor(gathered_, dtype_, {rows, h});
    check(ops.gather_rows(s, &p), "gather_rows");
  }
  linear(gathered_, rows, h, weights_.lm_head, nullptr, logits_, cfg.vocab_size, TSR_DTYPE_F32);
}

SampleResult ModelRunner::sample(const SamplingBatch& sampling) {
  const int64_t rows = num_logit_rows_;
  SampleResult result;
  if (rows == 0) return result;
  TSR_CHECK(static_cast<int64_t>(sampling.temperature.size()) == rows,
            "sampling parameters for {} rows, logits for {}", sampling.temperature.size(), rows);
  const int32_t top_n = std::min(sampling.num_top_logprobs, options_.max_logprobs);
  const size_t history = sampling.history_tokens.size();
  if (history > history_capacity_ || !history_.valid()) {
    history_capacity_ = std::max<size_t>(history, 4096);
    history_ = runtime::Buffer::allocate(device_, history_capacity_ * 4);
  }
  upload(temperature_, sampling.temperature);
  upload(top_k_, sampling.top_k);
  upload(top_p_, sampling.top_p);
  upload(min_p_, sampling.min_p);
  upload(repetition_, sampling.repetition_penalty);
  upload(presence_, sampling.presence_penalty);
  upload(frequency_, sampling.frequency_penalty);
  upload(seeds_, sampling.seeds);
  upload(history_, sampling.history_tokens);
  upload(history_offsets_, sampling.history_offsets);
  upload(history_prompt_lens_, sampling.history_prompt_lens);

  tsr_sample_params p{};
  p.struct_size = sizeof(p);
  p.logits = tensor(logits_, TSR_DTYPE_F32, {rows, weights_.config().vocab_size});
  p.temperature = tensor(temperature_, TSR_DTYPE_F32, {rows});
  p.top_k = tensor(top_k_, TSR_DTYPE_I32, {rows});
  p.top_p = tensor(top_p_, TSR_DTYPE_F32, {rows});
  p.min_p = tensor(min_p_, TSR_DTYPE_F32, {rows});
  p.repetition_penalty = tensor(repetition_, TSR_DTYPE_F32, {rows});
  p.presence_penalty = tensor(presence_, TSR_DTYPE_F32, {rows});
  p.frequency_penalty = tensor(frequency_, TSR_DTYPE_F32, {rows});
  p.seeds = tensor(seeds_, TSR_DTYPE_U64, {rows});
  p.step = 0;
  p.history_tokens = tensor(history_, TSR_DTYPE_I32, {static_cast<int64_t>(history)});
  p.history_offsets = tensor(history_offsets_, TSR_DTYPE_I32, {rows + 1});
  p.history_prompt_lens = tensor(history_prompt_lens_, TSR_DTYPE_I32, {rows});
  p.out_tokens = tensor(out_tokens_, TSR_DTYPE_I32, {rows});
  p.out_logprobs = sampling.want_logprobs ? tensor(out_logprobs_, TSR_DTYPE_F32, {rows}) : kAbsent;
  p.num_top_logprobs = top_n;
  p.top_ids = top_n > 0 ? tensor(top_ids_, TSR_DTYPE_I32, {rows, top_n}) : kAbsent;
  p.top_values = top_n > 0 ? tensor(top_values_, TSR_DTYPE_F32, {rows, top_n}) : kAbsent;
  device_->check(device_->ops().sample(stream_.handle(), &p), "sample");

  result.tokens.resize(static_cast<size_t>(rows));
  stream_.copy_to_host(result.tokens.data(), out_tokens_, 0, result.tokens.size() * 4);
  if (sampling.want_logprobs) {
    result.logprobs.resize(static_cast<size_t>(rows));
    stream_.copy_to_host(result.logprobs.data(), out_logprobs_, 0, result.logprobs.size() * 4);
  }
  if (top_n > 0) {
    result.top_ids.resize(static_cast<size_t>(rows * top_n));
    result.top_logprobs.resize(result.top_ids.size());
    stream_.copy_to_host(result.top_ids.data(), top_ids_, 0, result.top_ids.size() * 4);
    stream_.copy_to_host(result.top_logprobs.data(), top_values_, 0,
                         result.top_logprobs.size() * 4);
  }
  stream_.synchronize();
  return result;
}

std::vector<float> ModelRunner::logits_to_host() {
  std::vector<float> out(static_cast<size_t>(num_logit_rows_) *
                         static_cast<size_t>(weights_.config().vocab_size));
  if (!out.empty()) stream_.copy_to_host(out.data(), logits_, 0, out.size() * 4);
  stream_.synchronize();
  return out;
}

void ModelRunner::copy_blocks(const BlockPairs& pairs) {
  if (pairs.empty()) return;
  std::vector<int64_t> src, dst;
  for (const auto& [from, to] : pairs) {
    src.push_back(from);
    dst.push_back(to);
  }
  for (const auto& cache : kv_cache_) {
    tsr_copy_blocks_params p{};
    p.struct_size = sizeof(p);
    p.src = cache.handle();
    p.dst = cache.handle();
    p.block_bytes = block_bytes_;
    p.src_ids = src.data();
    p.dst_ids = dst.data();
    p.num_pairs = static_cast<int64_t>(src.size());
    device_->check(device_->ops().copy_blocks(stream_.handle(), &p), "copy_blocks");
  }
  stream_.synchronize();  // src/dst are host arrays read by the plugin
}

namespace {
void swap(runtime::Device& device, runtime::Stream& stream, std::vector<runtime::Buffer>& caches,
          std::vector<runtime::Buffer>& host, uint64_t block_bytes, const BlockPairs& pairs,
          tsr_swap_direction direction) {
  if (pairs.empty()) return;
  TSR_CHECK(!host.empty(), "swap requested but no swap space was allocated (--swap-space)");
  std::vector<int64_t> src, dst;
  for (const auto& [from, to] : pairs) {
    src.push_back(from);
    dst.push_back(to);
  }
  for (size_t layer = 0; layer < caches.size(); ++layer) {
    tsr_swap_blocks_params p{};
    p.struct_size = sizeof(p);
    p.device_buffer = caches[layer].handle();
    p.host_buffer = host[layer].handle();
    p.direction = direction;
    p.block_bytes = block_bytes;
    p.src_ids = src.data();
    p.dst_ids = dst.data();
    p.num_pairs = static_cast<int64_t>(src.size());
    device.check(device.ops().swap_blocks(stream.handle(), &p), "swap_blocks");
  }
  stream.synchronize();
}
}  // namespace

void ModelRunner::swap_out(const BlockPairs& device_to_host) {
  swap(*device_, stream_, kv_cache_, swap_space_, block_bytes_, device_to_host,
       TSR_SWAP_DIRECTION_OUT);
}

void ModelRunner::swap_in(const BlockPairs& host_to_device) {
  swap(*device_, stream_, kv_cache_, swap_space_, block_bytes_, host_to_device,
       TSR_SWAP_DIRECTION_IN);
}

}  // namespace tessera::engine
