// The XPU plugin's paged attention (kernels/attention.cl): validation as the CPU and CUDA
// plugins do it (same checks, same messages) plus the kernel's own limit on head_dim.
#include <cmath>
#include <cstdint>

#include "xpu_ops.h"

namespace tsr::xpu::ops {
namespace {
constexpr size_t kThreads = 64;   // XPU_ATTN_THREADS
constexpr int64_t kMaxDim = 256;  // XPU_ATTN_MAX_DIM
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
  TSR_PLUGIN_CHECK_ARG(seqs > 0 || tokens == 0,
                       "%s: %lld query tokens but no sequence (query_start_loc has 1 entry)", op,
                       static_cast<long long>(tokens));
  const int64_t dim = prm.layout.head_dim;
  TSR_PLUGIN_CHECK(dim <= kMaxDim, TSR_ERROR_CODE_UNIMPLEMENTED,
                   "%s: head_dim %lld exceeds the XPU kernel's maximum of %lld", op,
                   static_cast<long long>(dim), static_cast<long long>(kMaxDim));
  require_device(stream, prm.query, op, "query");
  require_device(stream, prm.out, op, "out");
  require_device(stream, prm.query_start_loc, op, "query_start_loc");
  require_device(stream, prm.seq_lens, op, "seq_lens");
  require_device(stream, prm.block_tables, op, "block_tables");
  tsr_tensor cache_tensor{};
  cache_tensor.buffer = prm.cache;
  require_device(stream, cache_tensor, op, "cache");
  for (const auto* v : {&query, &out, &qsl, &lens, &tables}) require_aligned(*v, op, "tensor");
  if (!execute || tokens == 0 || hq == 0) return;

  const int32_t num_seqs = static_cast<int32_t>(seqs);
  const int64_t max_blocks = tables.dim(1);
  const int32_t q_heads = static_cast<int32_t>(hq);
  const int32_t kv_heads = static_cast<int32_t>(hkv);
  const int32_t head_dim = static_cast<int32_t>(dim);
  const int32_t block_size = prm.layout.block_size;
  const int64_t num_blocks = prm.num_blocks;
  const float scale = prm.scale;
  const int32_t window = prm.sliding_window;
  const float softcap = prm.logit_softcap;
  const int32_t act = query.dtype;
  const int32_t cache_dtype = prm.layout.dtype;
  launch(stream, "xpu_paged_attention",
         {arg(prm.query), arg(prm.out), arg_buffer(prm.cache), arg(prm.query_start_loc),
          arg(prm.seq_lens), arg(prm.block_tables), KernelArg::scalar(num_seqs),
          KernelArg::scalar(max_blocks), KernelArg::scalar(q_heads), KernelArg::scalar(kv_heads),
          KernelArg::scalar(head_dim), KernelArg::scalar(block_size), KernelArg::scalar(num_blocks),
          KernelArg::scalar(scale), KernelArg::scalar(window), KernelArg::scalar(softcap),
          KernelArg::scalar(act), KernelArg::scalar(cache_dtype)},
         {static_cast<size_t>(tokens), static_cast<size_t>(hq), 1}, {kThreads, 1, 1});
}

}  // namespace tsr::xpu::ops
