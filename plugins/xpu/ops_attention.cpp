// The XPU plugin's paged attention (kernels/attention.cl): plugins/common/op_checks.h's
// validation, shared with the other plugins, plus residency, alignment and the kernel's own
// limit on head_dim.
#include <cstdint>

#include "xpu_ops.h"

namespace tsr::xpu::ops {
namespace {
constexpr size_t kThreads = 64;   // XPU_ATTN_THREADS
constexpr int64_t kMaxDim = 256;  // XPU_ATTN_MAX_DIM
}  // namespace

void paged_attention(tsr_stream_s* stream, const tsr_paged_attention_params* p, bool execute) {
  constexpr const char* op = "paged_attention";
  const PagedAttentionViews v = check_paged_attention(p, op);
  const auto& prm = *p;
  const int64_t tokens = v.tokens;
  const int64_t hq = v.query_heads;
  const int64_t hkv = v.kv_heads;
  const int64_t seqs = v.num_seqs;
  const int64_t dim = prm.layout.head_dim;
  TSR_PLUGIN_CHECK(dim <= kMaxDim, TSR_ERROR_CODE_UNIMPLEMENTED,
                   "%s: head_dim %lld exceeds the XPU kernel's maximum of %lld", op,
                   static_cast<long long>(dim), static_cast<long long>(kMaxDim));
  require_on_device(stream, v.tensors, op);
  require_device_buffer(stream, prm.cache, op, "cache");
  if (!execute || tokens == 0 || hq == 0) return;

  const int32_t num_seqs = static_cast<int32_t>(seqs);
  const int64_t max_blocks = v.block_tables.dim(1);
  const int32_t q_heads = static_cast<int32_t>(hq);
  const int32_t kv_heads = static_cast<int32_t>(hkv);
  const int32_t head_dim = static_cast<int32_t>(dim);
  const int32_t block_size = prm.layout.block_size;
  const int64_t num_blocks = prm.num_blocks;
  const float scale = prm.scale;
  const int32_t window = prm.sliding_window;
  const float softcap = prm.logit_softcap;
  const int32_t act = v.query.dtype;
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
