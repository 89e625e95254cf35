// The CUDA plugin's row-wise ops: embedding, rms_norm, rope, silu_mul, gelu_tanh_mul, add and
// gather_rows.
// Host validation is plugins/common/op_checks.h's, shared with the other plugins, plus
// require_on_device (residency and alignment) for every tensor. Index values (ids, indices,
// positions) live in device memory and are never read here: the kernels give a zero row for
// an id or index out of range (elementwise.cu). Rope's
// inverse frequencies are computed here exactly as the CPU plugin computes them and travel in
// the kernel's parameters, so nothing is copied to the device and every op can be captured.
#include <cmath>
#include <cstdint>

#include "cuda_ops.h"
#include "op_checks.h"
#include "rope_frequencies.h"
#include "elementwise_kernels.h"

namespace tsr::cuda::ops {

void embedding(tsr_stream_s* stream, const tsr_embedding_params* p, bool execute) {
  constexpr const char* op = "embedding";
  const EmbeddingViews v = check_embedding(p, op);
  require_on_device(stream, v.tensors, op);
  if (!execute || v.out.numel == 0) return;
  check(launch_gather_rows(v.table.data, v.table.dim(0),
                           v.table.dim(1) * static_cast<int64_t>(v.table.elem),
                           v.ids.as<const int32_t>(), v.ids.numel, v.out.data, stream->stream),
        "embedding: kernel launch");
}

void gather_rows(tsr_stream_s* stream, const tsr_gather_rows_params* p, bool execute) {
  constexpr const char* op = "gather_rows";
  const GatherRowsViews v = check_gather_rows(p, op);
  require_on_device(stream, v.tensors, op);
  if (!execute || v.out.numel == 0) return;
  check(launch_gather_rows(
            v.x.data, v.x.dim(0), v.out.numel / v.out.dim(0) * static_cast<int64_t>(v.x.elem),
            v.indices.as<const int32_t>(), v.indices.numel, v.out.data, stream->stream),
        "gather_rows: kernel launch");
}

void rms_norm(tsr_stream_s* stream, const tsr_rms_norm_params* p, bool execute) {
  constexpr const char* op = "rms_norm";
  const RmsNormViews v = check_rms_norm(p, op);
  require_on_device(stream, v.tensors, op);
  if (!execute || v.x.numel == 0) return;
  const RmsNormArgs args{
      v.x.dtype,  v.weight.dtype, v.x.data,   v.weight.data, v.fused ? v.residual.data : nullptr,
      v.out.data, v.x.rows(),     v.x.cols(), p->eps};
  check(launch_rms_norm(args, stream->stream), "rms_norm: kernel launch");
}

void rope(tsr_stream_s* stream, const tsr_rope_params* p, bool execute) {
  constexpr const char* op = "rope";
  const RopeViews v = check_rope(p, op);
  const auto& prm = *p;
  require_on_device(stream, v.tensors, op);
  // LongRoPE's two tables share the by-value array.
  const int max_rotary_dim = 2 * kRopeMaxPairs / rope_frequency_tables(prm);
  TSR_PLUGIN_CHECK(prm.rotary_dim <= max_rotary_dim, TSR_ERROR_CODE_UNIMPLEMENTED,
                   "%s: rotary_dim %d exceeds this plugin's maximum of %d", op, prm.rotary_dim,
                   max_rotary_dim);
  if (!execute || v.query.dim(0) == 0) return;
  RopeArgs args{};
  args.query = v.query.data;
  args.key = v.has_key ? v.key.data : nullptr;
  args.positions = v.positions.as<const int32_t>();
  args.tokens = v.query.dim(0);
  args.query_heads = v.query.dim(1);
  args.key_heads = v.has_key ? v.key.dim(1) : 0;
  args.head_dim = v.query.dim(2);
  args.rotary_dim = prm.rotary_dim;
  args.neox = prm.neox_style != 0 ? 1 : 0;
  args.long_from = rope_long_from_position(prm);
  args.attention_factor = rope_attention_factor(prm);
  rope_inverse_frequencies(prm, args.inv_freq);
  check(launch_rope(v.query.dtype, args, stream->stream), "rope: kernel launch");
}

void silu_mul(tsr_stream_s* stream, const tsr_silu_mul_params* p, bool execute) {
  constexpr const char* op = "silu_mul";
  const SiluMulViews v = check_silu_mul(p, op);
  require_on_device(stream, v.tensors, op);
  if (!execute || v.out.numel == 0) return;
  check(launch_silu_mul(v.x.dtype, v.x.data, v.out.data, v.x.rows(), v.out.cols(), stream->stream),
        "silu_mul: kernel launch");
}

void gelu_tanh_mul(tsr_stream_s* stream, const tsr_gelu_tanh_mul_params* p, bool execute) {
  constexpr const char* op = "gelu_tanh_mul";
  const SiluMulViews v = check_gelu_tanh_mul(p, op);
  require_on_device(stream, v.tensors, op);
  if (!execute || v.out.numel == 0) return;
  check(launch_gelu_tanh_mul(v.x.dtype, v.x.data, v.out.data, v.x.rows(), v.out.cols(),
                             stream->stream),
        "gelu_tanh_mul: kernel launch");
}

void add(tsr_stream_s* stream, const tsr_add_params* p, bool execute) {
  constexpr const char* op = "add";
  const AddViews v = check_add(p, op);
  require_on_device(stream, v.tensors, op);
  if (!execute || v.out.numel == 0) return;
  check(launch_add(v.a.dtype, v.a.data, v.b.data, v.out.data, v.out.numel, stream->stream),
        "add: kernel launch");
}

}  // namespace tsr::cuda::ops
