// paged_attention for the CUDA plugin: host validation and kernel choice. The checks are
// plugins/common/op_checks.h's plus residency, alignment and the kernels' limits; the
// contents of query_start_loc, seq_lens and block_tables live on the device and are never
// read here (no sync, graph capture stays possible), so the kernels clamp or skip bad values
// instead. A batch where every sequence brings one row (T == B, pure decode) runs the
// split-KV row kernel; any other batch runs the tiled prefill kernel for all rows.
#include <algorithm>
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
  const PagedAttentionViews v = check_paged_attention(p, op);
  const auto& prm = *p;
  const View& query = v.query;
  const View& out = v.out;
  const int64_t tokens = v.tokens;
  const int64_t hq = v.query_heads;
  const int64_t hkv = v.kv_heads;
  const int64_t seqs = v.num_seqs;
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
  require_on_device(stream, v.tensors, op);
  require_device_buffer(stream, prm.cache, op, "cache");
  if (!execute || tokens == 0 || hq == 0) return;

  PagedAttentionArgs args{};
  args.query = query.data;
  args.out = out.data;
  args.act_dtype = query.dtype;
  args.cache = prm.cache->ptr;
  args.kv_dtype = prm.layout.dtype;
  args.num_blocks = prm.num_blocks;
  args.query_start_loc = v.query_start_loc.as<const int32_t>();
  args.seq_lens = v.seq_lens.as<const int32_t>();
  args.block_tables = v.block_tables.as<const int32_t>();
  args.max_blocks_per_seq = v.block_tables.dim(1);
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
