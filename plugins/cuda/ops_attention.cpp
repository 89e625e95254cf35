// paged_attention for the CUDA plugin: host validation and kernel choice. The checks follow
// the CPU plugin's (plugins/cpu/ops_attention.cpp) except those that need the contents of
// query_start_loc, seq_lens and block_tables: those live on the device and are never read
// here (no sync, graph capture stays possible), so the kernels clamp or skip bad values
// instead. A batch where every sequence brings one row (T == B, pure decode) runs the
// split-KV row kernel; any other batch runs the tiled prefill kernel for all rows.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "attention.h"
#include "cuda_ops.h"

namespace tsr::cuda::ops {
namespace {

// Splits of the context per decode CTA: enough CTAs for about two waves of the GPU, none when
// the rows and heads alone fill it, and never more splits than KV blocks the longest
// sequence (max_seq_len, a host hint) can have, with at least 32 keys per split.
int decode_splits(int64_t ctas, int32_t max_seq_len, int32_t block_size, int sm_count) {
  if (sm_count <= 0 || ctas >= sm_count) return 1;
  const int64_t wanted = (2 * static_cast<int64_t>(sm_count) + ctas - 1) / ctas;
  const int64_t keys_per_split = std::max<int64_t>(block_size, 32);
  const int64_t most = (static_cast<int64_t>(max_seq_len) + keys_per_split - 1) / keys_per_split;
  return static_cast<int>(
      std::clamp<int64_t>(std::min(wanted, most), 1, static_cast<int64_t>(kAttentionMaxSplits)));
}

}  // namespace

void paged_attention(tsr_stream_s* stream, const tsr_paged_attention_params* p, bool execute) {
  constexpr const char* op = "paged_attention";
  const auto& prm = params(p, op);
  TSR_PLUGIN_CHECK_ARG(prm.cache != nullptr, "%s: cache is NULL", op);
  check_kv_cache(prm.layout, prm.cache, prm.num_blocks, op);
  const View query = view(prm.query, op, "query");
  const View out = view(prm.out, op, "out");
  require_activation(query, op, "query");
  require_ndim(query, 3, op, "query");
  require_dtype(out, query.dtype, op, "out");
  require_same_shape(query, out, op, "query", "out");
  require_no_overlap(out, query, op, "out", "query");
  const int64_t tokens = query.dim(0);
  const int64_t hq = query.dim(1);
  const int64_t hkv = prm.layout.num_kv_heads;
  TSR_PLUGIN_CHECK_ARG(prm.num_query_heads == hq,
                       "%s: num_query_heads %d does not match query's %lld heads", op,
                       prm.num_query_heads, static_cast<long long>(hq));
  TSR_PLUGIN_CHECK_ARG(hq % hkv == 0, "%s: num_query_heads %lld is not a multiple of %lld KV heads",
                       op, static_cast<long long>(hq), static_cast<long long>(hkv));
  require_dim(query, 2, prm.layout.head_dim, op, "query");
  TSR_PLUGIN_CHECK_ARG(std::isfinite(prm.scale), "%s: scale must be finite", op);
  TSR_PLUGIN_CHECK_ARG(prm.sliding_window >= 0, "%s: sliding_window must be >= 0", op);
  TSR_PLUGIN_CHECK_ARG(std::isfinite(prm.logit_softcap) && prm.logit_softcap >= 0.0f,
                       "%s: logit_softcap must be finite and >= 0", op);
  TSR_PLUGIN_CHECK_ARG(prm.max_seq_len > 0, "%s: max_seq_len %d must be positive", op,
                       prm.max_seq_len);

  const View qsl = view(prm.query_start_loc, op, "query_start_loc");
  const View lens = view(prm.seq_lens, op, "seq_lens");
  const View tables = view(prm.block_tables, op, "block_tables");
  require_dtype(qsl, TSR_DTYPE_I32, op, "query_start_loc");
  require_dtype(lens, TSR_DTYPE_I32, op, "seq_lens");
  require_dtype(tables, TSR_DTYPE_I32, op, "block_tables");
  require_ndim(lens, 1, op, "seq_lens");
  require_ndim(qsl, 1, op, "query_start_loc");
  require_ndim(tables, 2, op, "block_tables");
  const int64_t seqs = lens.dim(0);
  require_dim(qsl, 0, seqs + 1, op, "query_start_loc");
  require_dim(tables, 0, seqs, op, "block_tables");
  // query_start_loc[0] = 0 and [B] = T: with no sequence there can be no query row.
  TSR_PLUGIN_CHECK_ARG(seqs > 0 || tokens == 0,
                       "%s: %lld query tokens but no sequence (query_start_loc has 1 entry)", op,
                       static_cast<long long>(tokens));

  const int64_t dim = prm.layout.head_dim;
  TSR_PLUGIN_CHECK(dim % 8 == 0 && dim <= kAttentionMaxHeadDim, TSR_ERROR_CODE_UNIMPLEMENTED,
                   "%s: head_dim %lld is not supported by the CUDA kernels (multiples of 8 up to "
                   "%d)",
                   op, static_cast<long long>(dim), kAttentionMaxHeadDim);
  // Grid limits: rows on grid.x (2^31 - 1), heads on grid.y (65535).
  TSR_PLUGIN_CHECK(
      hq <= 65535 && tokens <= INT32_MAX / 2 && seqs <= INT32_MAX / 2, TSR_ERROR_CODE_UNIMPLEMENTED,
      "%s: %lld tokens, %lld sequences, %lld query heads exceed the CUDA grid", op,
      static_cast<long long>(tokens), static_cast<long long>(seqs), static_cast<long long>(hq));

  require_device(stream, prm.query, op, "query");
  require_device(stream, prm.out, op, "out");
  require_device(stream, prm.query_start_loc, op, "query_start_loc");
  require_device(stream, prm.seq_lens, op, "seq_lens");
  require_device(stream, prm.block_tables, op, "block_tables");
  tsr_tensor cache_tensor{};
  cache_tensor.buffer = prm.cache;
  require_device(stream, cache_tensor, op, "cache");
  if (!execute || tokens == 0 || hq == 0) return;

  PagedAttentionArgs args{};
  args.query = query.data;
  args.out = out.data;
  args.act_dtype = query.dtype;
  args.cache = prm.cache->ptr;
  args.kv_dtype = prm.layout.dtype;
  args.num_blocks = prm.num_blocks;
  args.query_start_loc = qsl.as<const int32_t>();
  args.seq_lens = lens.as<const int32_t>();
  args.block_tables = tables.as<const int32_t>();
  args.max_blocks_per_seq = tables.dim(1);
  args.num_seqs = static_cast<int32_t>(seqs);
  args.tokens = static_cast<int32_t>(tokens);
  args.num_query_heads = static_cast<int32_t>(hq);
  args.num_kv_heads = static_cast<int32_t>(hkv);
  args.head_dim = static_cast<int32_t>(dim);
  args.block_size = prm.layout.block_size;
  args.scale = prm.scale;
  args.sliding_window = prm.sliding_window;
  args.logit_softcap = prm.logit_softcap;

  if (tokens != seqs) {
    check(launch_paged_attention_prefill(args, stream->stream), "paged_attention: prefill kernel");
    return;
  }
  const int64_t group = hq / hkv;
  const int64_t per_cta = attention_decode_heads_per_cta(static_cast<int>(group));
  const int64_t ctas = tokens * hkv * ((group + per_cta - 1) / per_cta);
  const int splits = decode_splits(ctas, prm.max_seq_len, prm.layout.block_size,
                                   device_info(stream->device->index).sm_count);
  void* workspace = nullptr;
  if (splits > 1) {
    workspace = stream_workspace(stream, attention_decode_workspace_bytes(tokens, hq, splits, dim),
                                 "paged_attention: split-KV partials");
  }
  check(launch_paged_attention_decode(args, splits, workspace, stream->stream),
        "paged_attention: decode kernel");
}

}  // namespace tsr::cuda::ops
