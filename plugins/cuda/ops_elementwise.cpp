// The CUDA plugin's row-wise ops: embedding, rms_norm, rope, silu_mul, add and gather_rows.
// Host validation is the CPU plugin's (plugins/common/op_checks.h where shared, the same
// checks and messages elsewhere) plus require_device for every tensor, except
// that index values (ids, indices, positions) live in device memory and are never read
// here: the kernels give a zero row for an id or index out of range (elementwise.cu). Rope's
// inverse frequencies are computed here exactly as the CPU plugin computes them and travel in
// the kernel's parameters, so nothing is copied to the device and every op can be captured.
#include <cmath>
#include <cstdint>

#include "cuda_ops.h"
#include "op_checks.h"
#include "rope_frequencies.h"
#include "elementwise_kernels.h"

namespace tsr::cuda::ops {
namespace {

// Kernels access elements at their natural alignment; a view whose offset breaks it would
// fault on the device, so it is refused here (the CPU plugin has no such constraint).
void require_aligned(const View& v, const char* op, const char* field) {
  TSR_PLUGIN_CHECK_ARG(reinterpret_cast<uintptr_t>(v.data) % v.elem == 0,
                       "%s: %s: offset is not a multiple of its %zu-byte element size", op, field,
                       v.elem);
}

// Same rank and leading dims; the last dims are checked by the caller.
void require_same_rows(const View& a, const View& b, const char* op, const char* fa,
                       const char* fb) {
  bool same = a.ndim == b.ndim;
  for (int i = 0; same && i + 1 < a.ndim; ++i) same = a.shape[i] == b.shape[i];
  TSR_PLUGIN_CHECK_ARG(same, "%s: %s and %s must have the same rank and leading dims", op, fa, fb);
}

}  // namespace

void embedding(tsr_stream_s* stream, const tsr_embedding_params* p, bool execute) {
  constexpr const char* op = "embedding";
  const auto [ids, table, out] = check_embedding(p, op);
  require_device(stream, p->ids, op, "ids");
  require_device(stream, p->table, op, "table");
  require_device(stream, p->out, op, "out");
  require_aligned(ids, op, "ids");
  if (!execute || out.numel == 0) return;
  check(
      launch_gather_rows(table.data, table.dim(0), table.dim(1) * static_cast<int64_t>(table.elem),
                         ids.as<const int32_t>(), ids.numel, out.data, stream->stream),
      "embedding: kernel launch");
}

void gather_rows(tsr_stream_s* stream, const tsr_gather_rows_params* p, bool execute) {
  constexpr const char* op = "gather_rows";
  const auto& prm = params(p, op);
  const View x = view(prm.x, op, "x");
  const View indices = view(prm.indices, op, "indices");
  const View out = view(prm.out, op, "out");
  require_device(stream, prm.x, op, "x");
  require_device(stream, prm.indices, op, "indices");
  require_device(stream, prm.out, op, "out");
  require_dtype(indices, TSR_DTYPE_I32, op, "indices");
  require_ndim(indices, 1, op, "indices");
  require_dtype(out, x.dtype, op, "out");
  TSR_PLUGIN_CHECK_ARG(out.ndim == x.ndim, "%s: out must have x's rank", op);
  for (int i = 1; i < x.ndim; ++i) require_dim(out, i, x.dim(i), op, "out");
  require_dim(out, 0, indices.dim(0), op, "out");
  require_no_overlap(out, x, op, "out", "x");
  require_no_overlap(out, indices, op, "out", "indices");
  require_aligned(indices, op, "indices");
  if (!execute || out.numel == 0) return;
  check(launch_gather_rows(x.data, x.dim(0), out.numel / out.dim(0) * static_cast<int64_t>(x.elem),
                           indices.as<const int32_t>(), indices.numel, out.data, stream->stream),
        "gather_rows: kernel launch");
}

void rms_norm(tsr_stream_s* stream, const tsr_rms_norm_params* p, bool execute) {
  constexpr const char* op = "rms_norm";
  const auto& prm = *p;
  const auto [x, weight, out, residual, fused] = check_rms_norm(p, op);
  require_device(stream, prm.x, op, "x");
  require_device(stream, prm.weight, op, "weight");
  require_device(stream, prm.out, op, "out");
  if (fused) require_device(stream, prm.residual, op, "residual");
  require_aligned(x, op, "x");
  require_aligned(weight, op, "weight");
  require_aligned(out, op, "out");
  if (fused) require_aligned(residual, op, "residual");
  if (!execute || x.numel == 0) return;
  const RmsNormArgs args{
      x.dtype,  weight.dtype, x.data,   weight.data, fused ? residual.data : nullptr,
      out.data, x.rows(),     x.cols(), prm.eps};
  check(launch_rms_norm(args, stream->stream), "rms_norm: kernel launch");
}

void rope(tsr_stream_s* stream, const tsr_rope_params* p, bool execute) {
  constexpr const char* op = "rope";
  const auto& prm = *p;
  const auto [query, positions, key, has_key] = check_rope(p, op);
  const int64_t dim = query.dim(2);
  require_device(stream, prm.query, op, "query");
  require_device(stream, prm.positions, op, "positions");
  if (has_key) require_device(stream, prm.key, op, "key");
  TSR_PLUGIN_CHECK(prm.rotary_dim / 2 <= kRopeMaxPairs, TSR_ERROR_CODE_UNIMPLEMENTED,
                   "%s: rotary_dim %d exceeds this plugin's maximum of %d", op, prm.rotary_dim,
                   2 * kRopeMaxPairs);
  require_aligned(query, op, "query");
  require_aligned(positions, op, "positions");
  if (has_key) require_aligned(key, op, "key");
  if (!execute || query.dim(0) == 0) return;
  RopeArgs args{};
  args.query = query.data;
  args.key = has_key ? key.data : nullptr;
  args.positions = positions.as<const int32_t>();
  args.tokens = query.dim(0);
  args.query_heads = query.dim(1);
  args.key_heads = has_key ? key.dim(1) : 0;
  args.head_dim = dim;
  args.rotary_dim = prm.rotary_dim;
  args.neox = prm.neox_style != 0 ? 1 : 0;
  rope_inverse_frequencies(prm, args.inv_freq);
  check(launch_rope(query.dtype, args, stream->stream), "rope: kernel launch");
}

void silu_mul(tsr_stream_s* stream, const tsr_silu_mul_params* p, bool execute) {
  constexpr const char* op = "silu_mul";
  const auto& prm = params(p, op);
  const View x = view(prm.x, op, "x");
  const View out = view(prm.out, op, "out");
  require_device(stream, prm.x, op, "x");
  require_device(stream, prm.out, op, "out");
  require_activation(x, op, "x");
  require_dtype(out, x.dtype, op, "out");
  require_same_rows(x, out, op, "x", "out");
  TSR_PLUGIN_CHECK_ARG(x.cols() % 2 == 0, "%s: x: last dim %lld must be even ([gate | up])", op,
                       static_cast<long long>(x.cols()));
  require_dim(out, out.ndim - 1, x.cols() / 2, op, "out");
  require_no_overlap(out, x, op, "out", "x");
  require_aligned(x, op, "x");
  require_aligned(out, op, "out");
  if (!execute || out.numel == 0) return;
  check(launch_silu_mul(x.dtype, x.data, out.data, x.rows(), out.cols(), stream->stream),
        "silu_mul: kernel launch");
}

void add(tsr_stream_s* stream, const tsr_add_params* p, bool execute) {
  constexpr const char* op = "add";
  const auto& prm = params(p, op);
  const View a = view(prm.a, op, "a");
  const View b = view(prm.b, op, "b");
  const View out = view(prm.out, op, "out");
  require_device(stream, prm.a, op, "a");
  require_device(stream, prm.b, op, "b");
  require_device(stream, prm.out, op, "out");
  require_activation(a, op, "a");
  require_dtype(b, a.dtype, op, "b");
  require_dtype(out, a.dtype, op, "out");
  require_same_shape(a, b, op, "a", "b");
  require_same_shape(a, out, op, "a", "out");
  if (out.data != a.data) require_no_overlap(out, a, op, "out", "a (other than exactly)");
  if (out.data != b.data) require_no_overlap(out, b, op, "out", "b (other than exactly)");
  require_aligned(a, op, "a");
  require_aligned(b, op, "b");
  require_aligned(out, op, "out");
  if (!execute || out.numel == 0) return;
  check(launch_add(a.dtype, a.data, b.data, out.data, out.numel, stream->stream),
        "add: kernel launch");
}

}  // namespace tsr::cuda::ops
