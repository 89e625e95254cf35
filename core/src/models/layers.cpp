#include "models/layers.h"

#include <fmt/format.h>

#include <cmath>
#include <exception>

#include "common/check.h"

namespace tessera::models {

namespace {

const tsr_tensor kAbsent{sizeof(tsr_tensor), nullptr, 0, TSR_DTYPE_INVALID, 0, {0, 0, 0, 0}};

tsr_tensor tensor(const runtime::Buffer& buffer, tsr_dtype dtype,
                  std::initializer_list<int64_t> shape) {
  tsr_tensor t{};
  t.struct_size = sizeof(t);
  t.buffer = buffer.handle();
  t.dtype = dtype;
  t.ndim = static_cast<int32_t>(shape.size());
  int i = 0;
  for (int64_t d : shape) t.shape[i++] = d;
  return t;
}

tsr_rope_scaling rope_scaling_of(model::RopeScalingType type) {
  switch (type) {
    case model::RopeScalingType::kLinear:
      return TSR_ROPE_SCALING_LINEAR;
    case model::RopeScalingType::kLlama3:
      return TSR_ROPE_SCALING_LLAMA3;
    case model::RopeScalingType::kLongRope:
      return TSR_ROPE_SCALING_LONGROPE;
    case model::RopeScalingType::kNone:
      break;
  }
  return TSR_ROPE_SCALING_NONE;
}

// With tensor parallelism a rank must not stop between collectives: its peers would wait for
// it forever. So a failed op is recorded in ctx.failure and the rank carries on (its buffers
// stay valid; their contents no longer matter), reaching every collective; the runner throws
// the recorded error once every rank has finished the step.
void check(const ForwardContext& ctx, tsr_error* error, const char* op) {
  try {
    ctx.device.check(error, op);
  } catch (...) {
    if (ctx.failure == nullptr) throw;
    if (!*ctx.failure) *ctx.failure = std::current_exception();
  }
}

}  // namespace

const tsr_op_id kDecoderOps[8] = {TSR_OP_EMBEDDING, TSR_OP_RMS_NORM,       TSR_OP_LINEAR,
                                  TSR_OP_ROPE,      TSR_OP_KV_CACHE_WRITE, TSR_OP_PAGED_ATTENTION,
                                  TSR_OP_SILU_MUL,  TSR_OP_GATHER_ROWS};

const tsr_op_id kGegluDecoderOps[8] = {
    TSR_OP_EMBEDDING,      TSR_OP_RMS_NORM,        TSR_OP_LINEAR,        TSR_OP_ROPE,
    TSR_OP_KV_CACHE_WRITE, TSR_OP_PAGED_ATTENTION, TSR_OP_GELU_TANH_MUL, TSR_OP_GATHER_ROWS};

const AttentionNames kLlamaAttentionNames{{"self_attn.q_proj.weight", "attn_q.weight"},
                                          {"self_attn.k_proj.weight", "attn_k.weight"},
                                          {"self_attn.v_proj.weight", "attn_v.weight"},
                                          {"self_attn.o_proj.weight", "attn_output.weight"},
                                          {"self_attn.q_proj.bias", "attn_q.bias"},
                                          {"self_attn.k_proj.bias", "attn_k.bias"},
                                          {"self_attn.v_proj.bias", "attn_v.bias"},
                                          {"self_attn.q_norm.weight", "attn_q_norm.weight"},
                                          {"self_attn.k_norm.weight", "attn_k_norm.weight"}};
const GatedMlpNames kLlamaMlpNames{{"mlp.gate_proj.weight", "ffn_gate.weight"},
                                   {"mlp.up_proj.weight", "ffn_up.weight"},
                                   {"mlp.down_proj.weight", "ffn_down.weight"}};
const EmbeddingNames kLlamaEmbeddingNames{{"model.embed_tokens.weight", "token_embd.weight"},
                                          {"model.norm.weight", "output_norm.weight"},
                                          {"lm_head.weight", "output.weight"}};
const TensorName kLlamaAttnNorm{"input_layernorm.weight", "attn_norm.weight"};
const TensorName kLlamaFfnNorm{"post_attention_layernorm.weight", "ffn_norm.weight"};

std::string layer_tensor_name(const TensorName& name, int layer, WeightFileKind kind) {
  return kind == WeightFileKind::kHuggingFace ? fmt::format("model.layers.{}.{}", layer, name.hf)
                                              : fmt::format("blk.{}.{}", layer, name.gguf);
}

std::string global_tensor_name(const TensorName& name, WeightFileKind kind) {
  return kind == WeightFileKind::kHuggingFace ? name.hf : name.gguf;
}

// --- loading ---

runtime::Buffer load_norm(WeightLoader& loader, const TensorName& name, int layer, int64_t width,
                          ValueMap map) {
  return loader.plain(layer_tensor_name(name, layer, loader.kind()), {width}, {}, 0, map);
}

AttentionWeights load_attention(WeightLoader& loader, const model::ModelConfig& cfg, int layer,
                                const AttentionNames& names, AttentionFeatures features) {
  const auto kind = loader.kind();
  auto name = [&](const TensorName& n) { return layer_tensor_name(n, layer, kind); };
  const ShardLayout s = shard_layout(cfg, loader.shard());
  const int64_t h = cfg.hidden_size;
  const int64_t d = cfg.head_dim;
  const int64_t q_dim = cfg.num_heads * d;
  const int64_t kv_dim = cfg.num_kv_heads * d;
  // Column-parallel q/k/v: this rank's heads are whole rows of head_dim each.
  const TensorSlice q_rows{s.q_head_begin * d, s.q_heads * d};
  const TensorSlice kv_rows{s.kv_head_begin * d, s.kv_heads * d};
  // Row-parallel o_proj: the input columns of this rank's query heads.
  const TensorSlice o_cols{0, -1, s.q_head_begin * d, s.q_heads * d};
  AttentionWeights w;
  // One GEMM for q, k and v where the device splits outputs. Not with biases: the three bias
  // tensors would have to be stacked into one buffer too (left for later; Qwen2 runs three).
  if (!features.qkv_bias) {
    w.qkv = loader.linear_with_split_output({{name(names.q), q_dim, q_rows},
                                             {name(names.k), kv_dim, kv_rows},
                                             {name(names.v), kv_dim, kv_rows}},
                                            h);
  }
  if (!w.qkv.valid()) {
    w.q = loader.linear({name(names.q)}, q_dim, h, q_rows);
    w.k = loader.linear({name(names.k)}, kv_dim, h, kv_rows);
    w.v = loader.linear({name(names.v)}, kv_dim, h, kv_rows);
  }
  w.o = loader.linear({name(names.o)}, h, q_dim, o_cols);
  if (features.qkv_bias) {
    w.q_bias = loader.plain(name(names.q_bias), {q_dim}, q_rows);
    w.k_bias = loader.plain(name(names.k_bias), {kv_dim}, kv_rows);
    w.v_bias = loader.plain(name(names.v_bias), {kv_dim}, kv_rows);
  }
  if (features.qk_norm) {
    const ValueMap shift{1.0f, features.qk_norm_offset};
    w.q_norm = loader.plain(name(names.q_norm), {cfg.head_dim}, {}, 0, shift);
    w.k_norm = loader.plain(name(names.k_norm), {cfg.head_dim}, {}, 0, shift);
  }
  return w;
}

AttentionWeights load_fused_qkv_attention(WeightLoader& loader, const model::ModelConfig& cfg,
                                          int layer, const TensorName& qkv, const TensorName& o) {
  TSR_CHECK(loader.shard().size == 1,
            "{}: tensor parallelism is not supported for its fused q/k/v and gate/up weights",
            cfg.architecture_name);
  const std::string name = layer_tensor_name(qkv, layer, loader.kind());
  const int64_t h = cfg.hidden_size;
  const int64_t q_dim = cfg.num_heads * cfg.head_dim;
  const int64_t kv_dim = cfg.num_kv_heads * cfg.head_dim;
  const int64_t rows = q_dim + 2 * kv_dim;
  AttentionWeights w;
  // Whole, where the device splits the GEMM's output into q, k and v; else three row ranges.
  w.qkv = loader.linear_with_split_output({{name, rows, {}}}, h);
  if (!w.qkv.valid()) {
    w.q = loader.linear({name}, rows, h, TensorSlice{0, q_dim});
    w.k = loader.linear({name}, rows, h, TensorSlice{q_dim, kv_dim});
    w.v = loader.linear({name}, rows, h, TensorSlice{q_dim + kv_dim, kv_dim});
  }
  w.o = loader.linear({layer_tensor_name(o, layer, loader.kind())}, h, q_dim);
  return w;
}

GatedMlpWeights load_fused_gated_mlp(WeightLoader& loader, const model::ModelConfig& cfg, int layer,
                                     const TensorName& gate_up, const TensorName& down) {
  GatedMlpWeights w;
  w.gate_up = loader.linear({layer_tensor_name(gate_up, layer, loader.kind())},
                            2 * cfg.intermediate_size, cfg.hidden_size);
  w.down = loader.linear({layer_tensor_name(down, layer, loader.kind())}, cfg.hidden_size,
                         cfg.intermediate_size);
  return w;
}

GatedMlpWeights load_gated_mlp(WeightLoader& loader, const model::ModelConfig& cfg, int layer,
                               const GatedMlpNames& names) {
  const auto kind = loader.kind();
  const ShardLayout s = shard_layout(cfg, loader.shard());
  GatedMlpWeights w;
  // gate and up are each cut to this rank's intermediate rows, then stacked, so silu_mul
  // pairs this rank's gate rows with the same up rows.
  w.gate_up = loader.linear(
      {layer_tensor_name(names.gate, layer, kind), layer_tensor_name(names.up, layer, kind)},
      cfg.intermediate_size, cfg.hidden_size, TensorSlice{s.intermediate_begin, s.intermediate});
  w.down = loader.linear({layer_tensor_name(names.down, layer, kind)}, cfg.hidden_size,
                         cfg.intermediate_size,
                         TensorSlice{0, -1, s.intermediate_begin, s.intermediate});
  return w;
}

void load_embedding_table(WeightLoader& loader, const model::ModelConfig& cfg,
                          const EmbeddingNames& names, EmbeddingWeights& w, ValueMap table_map) {
  const int64_t h = cfg.hidden_size;
  const ShardLayout s = shard_layout(cfg, loader.shard());
  // Vocabulary-parallel: this rank's rows and one zero row for every other rank's ids.
  const std::string name = global_tensor_name(names.embedding, loader.kind());
  w.table = s.vocab_parallel
                ? loader.plain(name, {cfg.vocab_size, h}, {s.vocab_begin, s.vocab}, 1, table_map)
                : loader.plain(name, {cfg.vocab_size, h}, {}, 0, table_map);
  loader.add_bytes_per_token(static_cast<uint64_t>(h) * (loader.dtype() == TSR_DTYPE_F32 ? 4 : 2));
}

void load_output(WeightLoader& loader, const model::ModelConfig& cfg, const EmbeddingNames& names,
                 EmbeddingWeights& w, ValueMap final_norm_map) {
  const auto kind = loader.kind();
  const int64_t h = cfg.hidden_size;
  const std::string table = global_tensor_name(names.embedding, kind);
  w.final_norm =
      loader.plain(global_tensor_name(names.final_norm, kind), {h}, {}, 0, final_norm_map);
  const std::string head = global_tensor_name(names.lm_head, kind);
  const ShardLayout s = shard_layout(cfg, loader.shard());
  const TensorSlice rows{s.vocab_begin, s.vocab};
  if (loader.has(head)) {
    w.lm_head = loader.linear({head}, cfg.vocab_size, h, rows);
  } else {
    // GGUF files leave out output.weight when the embedding is tied.
    TSR_CHECK(cfg.tie_word_embeddings || kind == WeightFileKind::kGguf,
              "weight '{}' is missing and the config does not tie embeddings", head);
    w.lm_head = loader.linear({table}, cfg.vocab_size, h, rows);
  }
}

// --- forward ---

void all_reduce(const ForwardContext& ctx, const runtime::Buffer& x, int64_t count) {
  // A collective fails on every rank alike (the plugins check all ranks' arguments), so its
  // error ends the step everywhere.
  if (ctx.comm != nullptr) ctx.comm->all_reduce_sum(ctx.stream, x, ctx.dtype, count);
}

void embed(const ForwardContext& ctx, const model::ModelConfig& cfg, const runtime::Buffer& table) {
  const int64_t t = ctx.shape.tokens;
  const bool split = ctx.layout.vocab_parallel;
  tsr_embedding_params p{};
  p.struct_size = sizeof(p);
  p.ids = tensor(ctx.inputs.ids, TSR_DTYPE_I32, {t});
  // A split table has the zero row after this rank's rows (ids were mapped by the runner).
  p.table =
      tensor(table, ctx.dtype, {split ? ctx.layout.vocab + 1 : cfg.vocab_size, cfg.hidden_size});
  p.out = tensor(ctx.act.hidden, ctx.dtype, {t, cfg.hidden_size});
  check(ctx, ctx.device.ops().embedding(ctx.stream.handle(), &p), "embedding");
  // Exactly one rank holds each id's row and the others add zeros: the sum is exact.
  if (split) all_reduce(ctx, ctx.act.hidden, t * cfg.hidden_size);
}

void rms_norm(const ForwardContext& ctx, const runtime::Buffer& x, const runtime::Buffer* residual,
              const runtime::Buffer& weight, const runtime::Buffer& out, int64_t rows,
              int64_t width, double eps) {
  tsr_rms_norm_params p{};
  p.struct_size = sizeof(p);
  p.x = tensor(x, ctx.dtype, {rows, width});
  p.weight = tensor(weight, ctx.dtype, {width});
  p.residual = residual ? tensor(*residual, ctx.dtype, {rows, width}) : kAbsent;
  p.out = tensor(out, ctx.dtype, {rows, width});
  p.eps = static_cast<float>(eps);
  check(ctx, ctx.device.ops().rms_norm(ctx.stream.handle(), &p), "rms_norm");
}

void linear(const ForwardContext& ctx, const runtime::Buffer& x, int64_t m, int64_t k,
            const runtime::Weight& w, const runtime::Buffer* bias, const runtime::Buffer& out,
            int64_t n, tsr_dtype out_dtype) {
  tsr_linear_params p{};
  p.struct_size = sizeof(p);
  p.x = tensor(x, ctx.dtype, {m, k});
  p.weight = w.handle();
  p.bias = bias && bias->valid() ? tensor(*bias, ctx.dtype, {n}) : kAbsent;
  p.out = tensor(out, out_dtype, {m, n});
  check(ctx, ctx.device.ops().linear(ctx.stream.handle(), &p), "linear");
}

AttentionLayerParams default_attention_params(const model::ModelConfig& cfg) {
  AttentionLayerParams p;
  p.scale = 1.0 / std::sqrt(static_cast<double>(cfg.head_dim));
  p.sliding_window = cfg.sliding_window;
  p.rope_theta = cfg.rope_theta;
  p.rope_scaling = &cfg.rope_scaling;
  return p;
}

void attention_block(const ForwardContext& ctx, const model::ModelConfig& cfg, int layer,
                     const AttentionWeights& w) {
  attention_block(ctx, cfg, layer, w, default_attention_params(cfg));
}

void attention_block(const ForwardContext& ctx, const model::ModelConfig& cfg, int layer,
                     const AttentionWeights& w, const AttentionLayerParams& params) {
  const auto& ops = ctx.device.ops();
  const tsr_stream_t s = ctx.stream.handle();
  const tsr_dtype dt = ctx.dtype;
  Activations& a = ctx.act;
  const int64_t t = ctx.shape.tokens;
  const int64_t b = ctx.shape.seqs;
  const int64_t h = cfg.hidden_size;
  const int64_t hq = ctx.layout.q_heads;  // this rank's heads
  const int64_t hkv = ctx.layout.kv_heads;
  const int64_t d = cfg.head_dim;
  if (w.qkv.valid()) {
    tsr_linear_params p{};
    p.struct_size = sizeof(p);
    p.x = tensor(a.normed, dt, {t, h});
    p.weight = w.qkv.handle();
    p.bias = kAbsent;
    p.out = tensor(a.q, dt, {t, hq * d});
    p.out_parts[0] = tensor(a.k, dt, {t, hkv * d});
    p.out_parts[1] = tensor(a.v, dt, {t, hkv * d});
    check(ctx, ops.linear(s, &p), "linear");
  } else {
    linear(ctx, a.normed, t, h, w.q, &w.q_bias, a.q, hq * d, dt);
    linear(ctx, a.normed, t, h, w.k, &w.k_bias, a.k, hkv * d, dt);
    linear(ctx, a.normed, t, h, w.v, &w.v_bias, a.v, hkv * d, dt);
  }
  const runtime::Buffer* q = &a.q;
  const runtime::Buffer* k = &a.k;
  if (w.q_norm.valid()) {
    rms_norm(ctx, a.q, nullptr, w.q_norm, a.q_normed, t * hq, d, cfg.rms_norm_eps);
    rms_norm(ctx, a.k, nullptr, w.k_norm, a.k_normed, t * hkv, d, cfg.rms_norm_eps);
    q = &a.q_normed;
    k = &a.k_normed;
  }
  {
    tsr_rope_params p{};
    p.struct_size = sizeof(p);
    p.query = tensor(*q, dt, {t, hq, d});
    p.key = tensor(*k, dt, {t, hkv, d});
    p.positions = tensor(ctx.inputs.positions, TSR_DTYPE_I32, {t});
    p.rotary_dim = static_cast<int32_t>(d);
    p.neox_style = cfg.rope_neox_style ? 1 : 0;
    static const model::RopeScaling kNoScaling;
    const model::RopeScaling& rs = params.rope_scaling ? *params.rope_scaling : kNoScaling;
    p.theta = static_cast<float>(params.rope_theta);
    p.scaling = rope_scaling_of(rs.type);
    p.factor = static_cast<float>(rs.factor);
    p.low_freq_factor = static_cast<float>(rs.low_freq_factor);
    p.high_freq_factor = static_cast<float>(rs.high_freq_factor);
    p.original_max_position = static_cast<int32_t>(rs.original_max_position);
    // ABI 1.2: host arrays the op reads while it is called (the config outlives the step).
    p.short_factors = rs.short_factor.empty() ? nullptr : rs.short_factor.data();
    p.long_factors = rs.long_factor.empty() ? nullptr : rs.long_factor.data();
    p.attention_factor = static_cast<float>(rs.attention_factor);
    check(ctx, ops.rope(s, &p), "rope");
  }
  const auto& cache = ctx.kv_cache[static_cast<size_t>(layer)];
  {
    tsr_kv_cache_write_params p{};
    p.struct_size = sizeof(p);
    p.key = tensor(*k, dt, {t, hkv, d});
    p.value = tensor(a.v, dt, {t, hkv, d});
    p.slot_mapping = tensor(ctx.inputs.slots, TSR_DTYPE_I64, {t});
    p.cache = cache.handle();
    p.layout = ctx.kv_layout;
    p.num_blocks = ctx.num_kv_blocks;
    check(ctx, ops.kv_cache_write(s, &p), "kv_cache_write");
  }
  {
    tsr_paged_attention_params p{};
    p.struct_size = sizeof(p);
    p.query = tensor(*q, dt, {t, hq, d});
    p.out = tensor(a.attn, dt, {t, hq, d});
    p.cache = cache.handle();
    p.layout = ctx.kv_layout;
    p.num_blocks = ctx.num_kv_blocks;
    p.query_start_loc = tensor(ctx.inputs.query_start_loc, TSR_DTYPE_I32, {b + 1});
    p.seq_lens = tensor(ctx.inputs.seq_lens, TSR_DTYPE_I32, {b});
    p.block_tables = tensor(ctx.inputs.block_tables, TSR_DTYPE_I32, {b, ctx.shape.table_width});
    p.num_query_heads = static_cast<int32_t>(hq);
    p.max_seq_len = ctx.shape.max_seq_len;
    p.scale = static_cast<float>(params.scale);
    p.sliding_window = static_cast<int32_t>(params.sliding_window);
    p.logit_softcap = static_cast<float>(params.logit_softcap);
    check(ctx, ops.paged_attention(s, &p), "paged_attention");
  }
  linear(ctx, a.attn, t, hq * d, w.o, nullptr, a.o_out, h, dt);
  all_reduce(ctx, a.o_out, t * h);  // row-parallel o_proj: sum the ranks' partial outputs
}

void swiglu_mlp(const ForwardContext& ctx, const model::ModelConfig& cfg,
                const GatedMlpWeights& w) {
  gated_mlp(ctx, cfg, w, GateActivation::kSilu);
}

void gated_mlp(const ForwardContext& ctx, const model::ModelConfig& cfg, const GatedMlpWeights& w,
               GateActivation activation) {
  Activations& a = ctx.act;
  const int64_t t = ctx.shape.tokens;
  const int64_t inter = ctx.layout.intermediate;  // this rank's slice
  linear(ctx, a.normed, t, cfg.hidden_size, w.gate_up, nullptr, a.gate_up, 2 * inter, ctx.dtype);
  const tsr_tensor x = tensor(a.gate_up, ctx.dtype, {t, 2 * inter});
  const tsr_tensor out = tensor(a.act, ctx.dtype, {t, inter});
  if (activation == GateActivation::kSilu) {
    const tsr_silu_mul_params p{sizeof(tsr_silu_mul_params), x, out};
    check(ctx, ctx.device.ops().silu_mul(ctx.stream.handle(), &p), "silu_mul");
  } else {
    const tsr_gelu_tanh_mul_params p{sizeof(tsr_gelu_tanh_mul_params), x, out};
    check(ctx, ctx.device.ops().gelu_tanh_mul(ctx.stream.handle(), &p), "gelu_tanh_mul");
  }
  linear(ctx, a.act, t, inter, w.down, nullptr, a.mlp_out, cfg.hidden_size, ctx.dtype);
  all_reduce(ctx, a.mlp_out, t * cfg.hidden_size);  // row-parallel down_proj
}

void logits(const ForwardContext& ctx, const model::ModelConfig& cfg,
            const runtime::Weight& lm_head) {
  const int64_t rows = ctx.shape.logit_rows;
  if (rows == 0) return;
  const int64_t h = cfg.hidden_size;
  tsr_gather_rows_params p{};
  p.struct_size = sizeof(p);
  p.x = tensor(ctx.act.normed, ctx.dtype, {ctx.shape.tokens, h});
  p.indices = tensor(ctx.inputs.logits_indices, TSR_DTYPE_I32, {rows});
  p.out = tensor(ctx.act.gathered, ctx.dtype, {rows, h});
  check(ctx, ctx.device.ops().gather_rows(ctx.stream.handle(), &p), "gather_rows");
  if (!ctx.layout.vocab_parallel) {
    linear(ctx, ctx.act.gathered, rows, h, lm_head, nullptr, ctx.act.logits, cfg.vocab_size,
           TSR_DTYPE_F32);
    return;
  }
  // This rank's vocabulary columns, every rank's gathered rank-major ([N, rows, V/N]), then
  // permuted into [rows, V]: viewed as [rows * N, V/N], row r * N + q is rank q's row r.
  const int64_t part = ctx.layout.vocab;
  const int64_t n = ctx.comm->size();
  linear(ctx, ctx.act.gathered, rows, h, lm_head, nullptr, ctx.act.logits_local, part,
         TSR_DTYPE_F32);
  ctx.comm->all_gather(ctx.stream, ctx.act.logits_local, ctx.act.logits_ranks, TSR_DTYPE_F32,
                       rows * part);
  tsr_gather_rows_params g{};
  g.struct_size = sizeof(g);
  g.x = tensor(ctx.act.logits_ranks, TSR_DTYPE_F32, {n * rows, part});
  g.indices = tensor(ctx.inputs.logits_permutation, TSR_DTYPE_I32, {n * rows});
  g.out = tensor(ctx.act.logits, TSR_DTYPE_F32, {n * rows, part});
  check(ctx, ctx.device.ops().gather_rows(ctx.stream.handle(), &g), "gather_rows");
}

}  // namespace tessera::models
