// Shared op validation (see op_checks.h).
#include "op_checks.h"

#include <cmath>
#include <cstddef>
#include <stdexcept>

#include "tessera/plugin.hpp"

namespace tsr::plugin {

void OpTensors::add(const tsr_tensor& t, const View& v, const char* field) {
  // A programming error in this file, not bad input: every op's count is known.
  if (count_ >= kMax) throw std::logic_error("OpTensors: more than kMax tensors");
  items_[count_++] = NamedTensor{&t, v, field};
}

namespace {

// Same rank and leading dims; the last dims are checked by the caller.
void require_same_rows(const View& a, const View& b, const char* op, const char* fa,
                       const char* fb) {
  bool same = a.ndim == b.ndim;
  for (int i = 0; same && i + 1 < a.ndim; ++i) same = a.shape[i] == b.shape[i];
  TSR_PLUGIN_CHECK_ARG(same, "%s: %s and %s must have the same rank and leading dims", op, fa, fb);
}

// An optional per-row tensor of the sample op: absent, or `dtype` [rows].
template <class T>
const T* optional_row(const tsr_tensor& t, tsr_dtype dtype, int64_t rows, OpTensors& tensors,
                      const char* op, const char* field) {
  if (!present(t)) return nullptr;
  const View v = view(t, op, field);
  require_dtype(v, dtype, op, field);
  require_ndim(v, 1, op, field);
  require_dim(v, 0, rows, op, field);
  tensors.add(t, v, field);
  return v.as<const T>();
}

}  // namespace

const tsr_linear_params& linear_params(const tsr_linear_params* p, const char* op) {
  check_params_size(p, p != nullptr ? p->struct_size : 0, offsetof(tsr_linear_params, out_parts),
                    op);
  return *p;
}

LinearOutViews check_linear_outputs(const tsr_linear_params& p, const View& x, int64_t n,
                                    bool parts_supported, const char* op) {
  static const char* const kFields[3] = {"out", "out_parts[0]", "out_parts[1]"};
  LinearOutViews r;
  r.outs[0] = view(p.out, op, "out");
  const bool has_parts = TSR_STRUCT_HAS(&p, tsr_linear_params, out_parts);
  if (has_parts && present(p.out_parts[0])) {
    TSR_PLUGIN_CHECK_ARG(parts_supported,
                         "%s: out_parts: this device does not split a linear's output (no "
                         "TSR_DEVICE_CAP_LINEAR_OUT_PARTS)",
                         op);
    r.outs[1] = view(p.out_parts[0], op, kFields[1]);
    r.count = 2;
    if (present(p.out_parts[1])) {
      r.outs[2] = view(p.out_parts[1], op, kFields[2]);
      r.count = 3;
    }
  } else if (has_parts) {
    TSR_PLUGIN_CHECK_ARG(!present(p.out_parts[1]), "%s: out_parts[1] is present without [0]", op);
  }
  const View& out = r.outs[0];
  TSR_PLUGIN_CHECK_ARG(out.dtype == x.dtype || out.dtype == TSR_DTYPE_F32,
                       "%s: out: dtype %s must be x's (%s) or f32", op,
                       tsr::sdk::dtype_name(out.dtype), tsr::sdk::dtype_name(x.dtype));
  int64_t columns = 0;
  for (int i = 0; i < r.count; ++i) {
    const View& o = r.outs[i];
    TSR_PLUGIN_CHECK_ARG(o.ndim == x.ndim, "%s: %s must have x's rank", op, kFields[i]);
    for (int d = 0; d + 1 < x.ndim; ++d) require_dim(o, d, x.dim(d), op, kFields[i]);
    require_dtype(o, out.dtype, op, kFields[i]);
    TSR_PLUGIN_CHECK_ARG(o.dim(o.ndim - 1) > 0 || r.count == 1, "%s: %s has no columns", op,
                         kFields[i]);
    columns += o.dim(o.ndim - 1);
    require_no_overlap(o, x, op, kFields[i], "x");
    for (int j = 0; j < i; ++j) require_no_overlap(o, r.outs[j], op, kFields[i], kFields[j]);
  }
  if (r.count == 1) {
    require_dim(out, out.ndim - 1, n, op, "out");
  } else {
    TSR_PLUGIN_CHECK_ARG(columns == n,
                         "%s: out and out_parts have %lld columns in all, the weight has %lld rows",
                         op, static_cast<long long>(columns), static_cast<long long>(n));
  }
  return r;
}

EmbeddingViews check_embedding(const tsr_embedding_params* p, const char* op) {
  const auto& prm = params(p, op);
  EmbeddingViews v{
      view(prm.ids, op, "ids"), view(prm.table, op, "table"), view(prm.out, op, "out"), {}};
  require_dtype(v.ids, TSR_DTYPE_I32, op, "ids");
  require_ndim(v.ids, 1, op, "ids");
  require_ndim(v.table, 2, op, "table");
  require_ndim(v.out, 2, op, "out");
  require_dtype(v.out, v.table.dtype, op, "out");
  require_dim(v.out, 0, v.ids.dim(0), op, "out");
  require_dim(v.out, 1, v.table.dim(1), op, "out");
  require_no_overlap(v.out, v.table, op, "out", "table");
  require_no_overlap(v.out, v.ids, op, "out", "ids");
  v.tensors.add(prm.ids, v.ids, "ids");
  v.tensors.add(prm.table, v.table, "table");
  v.tensors.add(prm.out, v.out, "out");
  return v;
}

RmsNormViews check_rms_norm(const tsr_rms_norm_params* p, const char* op) {
  const auto& prm = params(p, op);
  RmsNormViews v;
  v.x = view(prm.x, op, "x");
  v.weight = view(prm.weight, op, "weight");
  v.out = view(prm.out, op, "out");
  require_activation(v.x, op, "x");
  require_dtype(v.out, v.x.dtype, op, "out");
  require_same_shape(v.x, v.out, op, "x", "out");
  require_ndim(v.weight, 1, op, "weight");
  require_dim(v.weight, 0, v.x.cols(), op, "weight");
  TSR_PLUGIN_CHECK_ARG(v.weight.dtype == v.x.dtype || v.weight.dtype == TSR_DTYPE_F32,
                       "%s: weight: dtype must be x's or f32", op);
  TSR_PLUGIN_CHECK_ARG(std::isfinite(prm.eps) && prm.eps >= 0.0f, "%s: eps must be finite and >= 0",
                       op);
  require_no_overlap(v.out, v.x, op, "out", "x");
  v.fused = present(prm.residual);
  if (v.fused) {
    v.residual = view(prm.residual, op, "residual");
    require_dtype(v.residual, v.x.dtype, op, "residual");
    require_same_shape(v.x, v.residual, op, "x", "residual");
    require_no_overlap(v.residual, v.x, op, "residual", "x");
    require_no_overlap(v.residual, v.out, op, "residual", "out");
  }
  v.tensors.add(prm.x, v.x, "x");
  v.tensors.add(prm.weight, v.weight, "weight");
  v.tensors.add(prm.out, v.out, "out");
  if (v.fused) v.tensors.add(prm.residual, v.residual, "residual");
  return v;
}

namespace {

// ABI 1.2: LongRoPE's fields must be inside the caller's struct and hold positive factors.
void check_longrope(const tsr_rope_params& p, const char* op) {
  TSR_PLUGIN_CHECK_ARG(TSR_STRUCT_HAS(&p, tsr_rope_params, attention_factor),
                       "%s: scaling LONGROPE needs short_factors, long_factors and "
                       "attention_factor (ABI 1.2), beyond struct_size %zu",
                       op, p.struct_size);
  TSR_PLUGIN_CHECK_ARG(p.short_factors != nullptr && p.long_factors != nullptr,
                       "%s: short_factors and long_factors must not be NULL for LONGROPE", op);
  for (int i = 0; i < p.rotary_dim / 2; ++i) {
    TSR_PLUGIN_CHECK_ARG(std::isfinite(p.short_factors[i]) && p.short_factors[i] > 0.0f,
                         "%s: short_factors[%d] must be positive", op, i);
    TSR_PLUGIN_CHECK_ARG(std::isfinite(p.long_factors[i]) && p.long_factors[i] > 0.0f,
                         "%s: long_factors[%d] must be positive", op, i);
  }
  TSR_PLUGIN_CHECK_ARG(std::isfinite(p.attention_factor) && p.attention_factor > 0.0f,
                       "%s: attention_factor must be positive", op);
  TSR_PLUGIN_CHECK_ARG(p.original_max_position > 0, "%s: original_max_position must be positive",
                       op);
}

}  // namespace

RopeViews check_rope(const tsr_rope_params* p, const char* op) {
  const auto& prm = params(p, op);
  RopeViews v;
  v.query = view(prm.query, op, "query");
  v.positions = view(prm.positions, op, "positions");
  require_activation(v.query, op, "query");
  require_ndim(v.query, 3, op, "query");
  require_dtype(v.positions, TSR_DTYPE_I32, op, "positions");
  require_ndim(v.positions, 1, op, "positions");
  require_dim(v.positions, 0, v.query.dim(0), op, "positions");
  const int64_t dim = v.query.dim(2);
  v.has_key = present(prm.key);
  if (v.has_key) {
    v.key = view(prm.key, op, "key");
    require_dtype(v.key, v.query.dtype, op, "key");
    require_ndim(v.key, 3, op, "key");
    require_dim(v.key, 0, v.query.dim(0), op, "key");
    require_dim(v.key, 2, dim, op, "key");
    require_no_overlap(v.key, v.query, op, "key", "query");
  }
  TSR_PLUGIN_CHECK_ARG(prm.rotary_dim > 0 && prm.rotary_dim % 2 == 0 && prm.rotary_dim <= dim,
                       "%s: rotary_dim %d must be even and in (0, head_dim %lld]", op,
                       prm.rotary_dim, static_cast<long long>(dim));
  TSR_PLUGIN_CHECK_ARG(std::isfinite(prm.theta) && prm.theta > 0.0f, "%s: theta must be positive",
                       op);
  TSR_PLUGIN_CHECK_ARG(
      prm.scaling == TSR_ROPE_SCALING_NONE || prm.scaling == TSR_ROPE_SCALING_LINEAR ||
          prm.scaling == TSR_ROPE_SCALING_LLAMA3 || prm.scaling == TSR_ROPE_SCALING_LONGROPE,
      "%s: scaling %d is not a tsr_rope_scaling", op, static_cast<int>(prm.scaling));
  if (prm.scaling == TSR_ROPE_SCALING_LONGROPE) check_longrope(*p, op);
  if (prm.scaling != TSR_ROPE_SCALING_NONE && prm.scaling != TSR_ROPE_SCALING_LONGROPE) {
    TSR_PLUGIN_CHECK_ARG(std::isfinite(prm.factor) && prm.factor > 0.0f,
                         "%s: factor must be positive for scaled rope", op);
  }
  if (prm.scaling == TSR_ROPE_SCALING_LLAMA3) {
    TSR_PLUGIN_CHECK_ARG(prm.low_freq_factor > 0.0f && prm.high_freq_factor > 0.0f &&
                             prm.high_freq_factor != prm.low_freq_factor,
                         "%s: low_freq_factor and high_freq_factor must be positive and differ",
                         op);
    TSR_PLUGIN_CHECK_ARG(prm.original_max_position > 0,
                         "%s: original_max_position must be positive", op);
  }
  v.tensors.add(prm.query, v.query, "query");
  v.tensors.add(prm.positions, v.positions, "positions");
  if (v.has_key) v.tensors.add(prm.key, v.key, "key");
  return v;
}

GatherRowsViews check_gather_rows(const tsr_gather_rows_params* p, const char* op) {
  const auto& prm = params(p, op);
  GatherRowsViews v{
      view(prm.x, op, "x"), view(prm.indices, op, "indices"), view(prm.out, op, "out"), {}};
  require_dtype(v.indices, TSR_DTYPE_I32, op, "indices");
  require_ndim(v.indices, 1, op, "indices");
  require_dtype(v.out, v.x.dtype, op, "out");
  TSR_PLUGIN_CHECK_ARG(v.out.ndim == v.x.ndim, "%s: out must have x's rank", op);
  for (int i = 1; i < v.x.ndim; ++i) require_dim(v.out, i, v.x.dim(i), op, "out");
  require_dim(v.out, 0, v.indices.dim(0), op, "out");
  require_no_overlap(v.out, v.x, op, "out", "x");
  require_no_overlap(v.out, v.indices, op, "out", "indices");
  v.tensors.add(prm.x, v.x, "x");
  v.tensors.add(prm.indices, v.indices, "indices");
  v.tensors.add(prm.out, v.out, "out");
  return v;
}

namespace {

// x: [rows, 2I] = [gate | up] and out: [rows, I] of one activation dtype (silu_mul and
// gelu_tanh_mul share the contract).
template <typename Params>
SiluMulViews check_gated_activation(const Params* p, const char* op) {
  const auto& prm = params(p, op);
  SiluMulViews v{view(prm.x, op, "x"), view(prm.out, op, "out"), {}};
  require_activation(v.x, op, "x");
  require_dtype(v.out, v.x.dtype, op, "out");
  require_same_rows(v.x, v.out, op, "x", "out");
  TSR_PLUGIN_CHECK_ARG(v.x.cols() % 2 == 0, "%s: x: last dim %lld must be even ([gate | up])", op,
                       static_cast<long long>(v.x.cols()));
  require_dim(v.out, v.out.ndim - 1, v.x.cols() / 2, op, "out");
  require_no_overlap(v.out, v.x, op, "out", "x");
  v.tensors.add(prm.x, v.x, "x");
  v.tensors.add(prm.out, v.out, "out");
  return v;
}

}  // namespace

SiluMulViews check_silu_mul(const tsr_silu_mul_params* p, const char* op) {
  return check_gated_activation(p, op);
}

SiluMulViews check_gelu_tanh_mul(const tsr_gelu_tanh_mul_params* p, const char* op) {
  return check_gated_activation(p, op);
}

AddViews check_add(const tsr_add_params* p, const char* op) {
  const auto& prm = params(p, op);
  AddViews v{view(prm.a, op, "a"), view(prm.b, op, "b"), view(prm.out, op, "out"), {}};
  require_activation(v.a, op, "a");
  require_dtype(v.b, v.a.dtype, op, "b");
  require_dtype(v.out, v.a.dtype, op, "out");
  require_same_shape(v.a, v.b, op, "a", "b");
  require_same_shape(v.a, v.out, op, "a", "out");
  if (v.out.data != v.a.data) require_no_overlap(v.out, v.a, op, "out", "a (other than exactly)");
  if (v.out.data != v.b.data) require_no_overlap(v.out, v.b, op, "out", "b (other than exactly)");
  v.tensors.add(prm.a, v.a, "a");
  v.tensors.add(prm.b, v.b, "b");
  v.tensors.add(prm.out, v.out, "out");
  return v;
}

PagedAttentionViews check_paged_attention(const tsr_paged_attention_params* p, const char* op) {
  const auto& prm = params(p, op);
  TSR_PLUGIN_CHECK_ARG(prm.cache != nullptr, "%s: cache is NULL", op);
  check_kv_cache(prm.layout, prm.cache, prm.num_blocks, op);
  PagedAttentionViews v;
  v.query = view(prm.query, op, "query");
  v.out = view(prm.out, op, "out");
  require_activation(v.query, op, "query");
  require_ndim(v.query, 3, op, "query");
  require_dtype(v.out, v.query.dtype, op, "out");
  require_same_shape(v.query, v.out, op, "query", "out");
  require_no_overlap(v.out, v.query, op, "out", "query");
  v.tokens = v.query.dim(0);
  v.query_heads = v.query.dim(1);
  v.kv_heads = prm.layout.num_kv_heads;
  TSR_PLUGIN_CHECK_ARG(prm.num_query_heads == v.query_heads,
                       "%s: num_query_heads %d does not match query's %lld heads", op,
                       prm.num_query_heads, static_cast<long long>(v.query_heads));
  TSR_PLUGIN_CHECK_ARG(v.query_heads % v.kv_heads == 0,
                       "%s: num_query_heads %lld is not a multiple of %lld KV heads", op,
                       static_cast<long long>(v.query_heads), static_cast<long long>(v.kv_heads));
  require_dim(v.query, 2, prm.layout.head_dim, op, "query");
  TSR_PLUGIN_CHECK_ARG(std::isfinite(prm.scale), "%s: scale must be finite", op);
  TSR_PLUGIN_CHECK_ARG(prm.sliding_window >= 0, "%s: sliding_window must be >= 0", op);
  TSR_PLUGIN_CHECK_ARG(std::isfinite(prm.logit_softcap) && prm.logit_softcap >= 0.0f,
                       "%s: logit_softcap must be finite and >= 0", op);
  TSR_PLUGIN_CHECK_ARG(prm.max_seq_len > 0 || v.tokens == 0, "%s: max_seq_len %d must be positive",
                       op, prm.max_seq_len);
  v.query_start_loc = view(prm.query_start_loc, op, "query_start_loc");
  v.seq_lens = view(prm.seq_lens, op, "seq_lens");
  v.block_tables = view(prm.block_tables, op, "block_tables");
  require_dtype(v.query_start_loc, TSR_DTYPE_I32, op, "query_start_loc");
  require_dtype(v.seq_lens, TSR_DTYPE_I32, op, "seq_lens");
  require_dtype(v.block_tables, TSR_DTYPE_I32, op, "block_tables");
  require_ndim(v.seq_lens, 1, op, "seq_lens");
  require_ndim(v.query_start_loc, 1, op, "query_start_loc");
  require_ndim(v.block_tables, 2, op, "block_tables");
  v.num_seqs = v.seq_lens.dim(0);
  require_dim(v.query_start_loc, 0, v.num_seqs + 1, op, "query_start_loc");
  require_dim(v.block_tables, 0, v.num_seqs, op, "block_tables");
  // query_start_loc[0] = 0 and [B] = T: with no sequence there can be no query row.
  TSR_PLUGIN_CHECK_ARG(v.num_seqs > 0 || v.tokens == 0,
                       "%s: %lld query tokens but no sequence (query_start_loc has 1 entry)", op,
                       static_cast<long long>(v.tokens));
  v.tensors.add(prm.query, v.query, "query");
  v.tensors.add(prm.out, v.out, "out");
  v.tensors.add(prm.query_start_loc, v.query_start_loc, "query_start_loc");
  v.tensors.add(prm.seq_lens, v.seq_lens, "seq_lens");
  v.tensors.add(prm.block_tables, v.block_tables, "block_tables");
  return v;
}

KvCacheViews check_kv_cache_io(const tsr_kv_layout& layout, tsr_buffer_t cache, int64_t num_blocks,
                               const tsr_tensor& key, const tsr_tensor& value,
                               const tsr_tensor& slot_mapping, bool is_read, const char* op) {
  check_kv_cache(layout, cache, num_blocks, op);
  TSR_PLUGIN_CHECK_ARG(cache != nullptr, "%s: cache is NULL", op);
  KvCacheViews v{
      view(key, op, "key"), view(value, op, "value"), view(slot_mapping, op, "slot_mapping"), {}};
  require_activation(v.key, op, "key");
  require_dtype(v.value, v.key.dtype, op, "value");
  require_ndim(v.key, 3, op, "key");
  require_dim(v.key, 1, layout.num_kv_heads, op, "key");
  require_dim(v.key, 2, layout.head_dim, op, "key");
  require_same_shape(v.key, v.value, op, "key", "value");
  require_dtype(v.slot_mapping, TSR_DTYPE_I64, op, "slot_mapping");
  require_ndim(v.slot_mapping, 1, op, "slot_mapping");
  require_dim(v.slot_mapping, 0, v.key.dim(0), op, "slot_mapping");
  if (is_read) require_no_overlap(v.key, v.value, op, "key", "value");
  v.tensors.add(key, v.key, "key");
  v.tensors.add(value, v.value, "value");
  v.tensors.add(slot_mapping, v.slot_mapping, "slot_mapping");
  return v;
}

namespace {

void check_sample_history(const tsr_sample_params& prm, SampleViews& v, const char* op) {
  v.has_history = present(prm.history_offsets);
  if (!v.has_history) return;
  v.history_offsets = view(prm.history_offsets, op, "history_offsets");
  require_dtype(v.history_offsets, TSR_DTYPE_I32, op, "history_offsets");
  require_ndim(v.history_offsets, 1, op, "history_offsets");
  require_dim(v.history_offsets, 0, v.rows + 1, op, "history_offsets");
  v.history_tokens = view(prm.history_tokens, op, "history_tokens");
  require_dtype(v.history_tokens, TSR_DTYPE_I32, op, "history_tokens");
  require_ndim(v.history_tokens, 1, op, "history_tokens");
  v.history_prompt_lens = view(prm.history_prompt_lens, op, "history_prompt_lens");
  require_dtype(v.history_prompt_lens, TSR_DTYPE_I32, op, "history_prompt_lens");
  require_ndim(v.history_prompt_lens, 1, op, "history_prompt_lens");
  require_dim(v.history_prompt_lens, 0, v.rows, op, "history_prompt_lens");
  v.tensors.add(prm.history_offsets, v.history_offsets, "history_offsets");
  v.tensors.add(prm.history_tokens, v.history_tokens, "history_tokens");
  v.tensors.add(prm.history_prompt_lens, v.history_prompt_lens, "history_prompt_lens");
}

void check_sample_outputs(const tsr_sample_params& prm, SampleViews& v, const char* op) {
  v.out_tokens = view(prm.out_tokens, op, "out_tokens");
  require_dtype(v.out_tokens, TSR_DTYPE_I32, op, "out_tokens");
  require_ndim(v.out_tokens, 1, op, "out_tokens");
  require_dim(v.out_tokens, 0, v.rows, op, "out_tokens");
  require_no_overlap(v.out_tokens, v.logits, op, "out_tokens", "logits");
  v.tensors.add(prm.out_tokens, v.out_tokens, "out_tokens");
  v.has_logprobs = present(prm.out_logprobs);
  if (v.has_logprobs) {
    v.out_logprobs = view(prm.out_logprobs, op, "out_logprobs");
    require_dtype(v.out_logprobs, TSR_DTYPE_F32, op, "out_logprobs");
    require_ndim(v.out_logprobs, 1, op, "out_logprobs");
    require_dim(v.out_logprobs, 0, v.rows, op, "out_logprobs");
    require_no_overlap(v.out_logprobs, v.logits, op, "out_logprobs", "logits");
    v.tensors.add(prm.out_logprobs, v.out_logprobs, "out_logprobs");
  }
  v.top_n = prm.num_top_logprobs;
  TSR_PLUGIN_CHECK_ARG(v.top_n >= 0 && v.top_n <= v.vocab,
                       "%s: num_top_logprobs %lld not in [0, %lld]", op,
                       static_cast<long long>(v.top_n), static_cast<long long>(v.vocab));
  if (v.top_n == 0) return;
  v.top_ids = view(prm.top_ids, op, "top_ids");
  v.top_values = view(prm.top_values, op, "top_values");
  require_dtype(v.top_ids, TSR_DTYPE_I32, op, "top_ids");
  require_dtype(v.top_values, TSR_DTYPE_F32, op, "top_values");
  require_ndim(v.top_ids, 2, op, "top_ids");
  require_dim(v.top_ids, 0, v.rows, op, "top_ids");
  require_dim(v.top_ids, 1, v.top_n, op, "top_ids");
  require_same_shape(v.top_ids, v.top_values, op, "top_ids", "top_values");
  require_no_overlap(v.top_ids, v.logits, op, "top_ids", "logits");
  require_no_overlap(v.top_values, v.logits, op, "top_values", "logits");
  v.tensors.add(prm.top_ids, v.top_ids, "top_ids");
  v.tensors.add(prm.top_values, v.top_values, "top_values");
}

}  // namespace

SampleViews check_sample(const tsr_sample_params* p, const char* op) {
  const auto& prm = params(p, op);
  SampleViews v;
  v.logits = view(prm.logits, op, "logits");
  require_dtype(v.logits, TSR_DTYPE_F32, op, "logits");
  require_ndim(v.logits, 2, op, "logits");
  v.tensors.add(prm.logits, v.logits, "logits");
  v.rows = v.logits.dim(0);
  v.vocab = v.logits.dim(1);
  TSR_PLUGIN_CHECK_ARG(v.vocab > 0 && v.vocab < (int64_t{1} << 31), "%s: logits: vocabulary size",
                       op);
  OpTensors& t = v.tensors;
  const int64_t rows = v.rows;
  v.temperature = optional_row<float>(prm.temperature, TSR_DTYPE_F32, rows, t, op, "temperature");
  v.top_k = optional_row<int32_t>(prm.top_k, TSR_DTYPE_I32, rows, t, op, "top_k");
  v.top_p = optional_row<float>(prm.top_p, TSR_DTYPE_F32, rows, t, op, "top_p");
  v.min_p = optional_row<float>(prm.min_p, TSR_DTYPE_F32, rows, t, op, "min_p");
  v.repetition_penalty =
      optional_row<float>(prm.repetition_penalty, TSR_DTYPE_F32, rows, t, op, "repetition_penalty");
  v.presence_penalty =
      optional_row<float>(prm.presence_penalty, TSR_DTYPE_F32, rows, t, op, "presence_penalty");
  v.frequency_penalty =
      optional_row<float>(prm.frequency_penalty, TSR_DTYPE_F32, rows, t, op, "frequency_penalty");
  v.seeds = optional_row<uint64_t>(prm.seeds, TSR_DTYPE_U64, rows, t, op, "seeds");
  check_sample_history(prm, v, op);
  check_sample_outputs(prm, v, op);
  return v;
}

}  // namespace tsr::plugin
