// The XPU plugin's row-wise ops: embedding, gather_rows, rms_norm, rope, silu_mul, gelu_tanh_mul
// and add (kernels/elementwise.cl). Host validation is plugins/common/op_checks.h's, shared with
// the other plugins, plus require_on_device (residency and alignment) for every tensor. Index
// values (ids, indices, positions) live in device memory and are never read here: the
// kernels give a zero row for an id out of range. Rope's
// inverse frequencies are computed here exactly as the CPU plugin computes them
// (rope_frequencies.h) and travel in the kernel's arguments.
#include <cstdint>

#include "op_checks.h"
#include "rope_frequencies.h"
#include "xpu_ops.h"

namespace tsr::xpu::ops {
namespace {

// kernels/elementwise.cl's work-group sizes and limits.
constexpr size_t kRowThreads = 256;  // XPU_NORM_THREADS
constexpr int kRopeMaxPairs = 128;   // XPU_ROPE_MAX_PAIRS
struct RopeFrequencies {
  float v[kRopeMaxPairs];
};

void launch_gather(const tsr_stream_s* stream, const tsr_tensor& src, int64_t src_rows,
                   int64_t row_bytes, const tsr_tensor& idx, int64_t count, const tsr_tensor& out) {
  launch(stream, "xpu_gather_rows",
         {arg(src), KernelArg::scalar(src_rows), KernelArg::scalar(row_bytes), arg(idx),
          KernelArg::scalar(count), arg(out)},
         {groups_for(row_bytes, 64), static_cast<size_t>(count), 1}, {64, 1, 1});
}

}  // namespace

void embedding(tsr_stream_s* stream, const tsr_embedding_params* p, bool execute) {
  constexpr const char* op = "embedding";
  const auto [ids, table, out, tensors] = check_embedding(p, op);
  require_on_device(stream, tensors, op);
  if (!execute || out.numel == 0) return;
  launch_gather(stream, p->table, table.dim(0), table.dim(1) * static_cast<int64_t>(table.elem),
                p->ids, ids.numel, p->out);
}

void gather_rows(tsr_stream_s* stream, const tsr_gather_rows_params* p, bool execute) {
  constexpr const char* op = "gather_rows";
  const auto [x, indices, out, tensors] = check_gather_rows(p, op);
  const auto& prm = *p;
  require_on_device(stream, tensors, op);
  if (!execute || out.numel == 0) return;
  launch_gather(stream, prm.x, x.dim(0), out.numel / out.dim(0) * static_cast<int64_t>(x.elem),
                prm.indices, indices.numel, prm.out);
}

void rms_norm(tsr_stream_s* stream, const tsr_rms_norm_params* p, bool execute) {
  constexpr const char* op = "rms_norm";
  const auto [x, weight, out, residual, fused, tensors] = check_rms_norm(p, op);
  const auto& prm = *p;
  require_on_device(stream, tensors, op);
  if (!execute || x.numel == 0) return;
  const int32_t dtype = x.dtype;
  const int32_t weight_dtype = weight.dtype;
  const int64_t cols = x.cols();
  const float eps = prm.eps;
  const tsr_tensor none{};
  launch(stream, "xpu_rms_norm",
         {arg(prm.x), arg(prm.weight), KernelArg::scalar(weight_dtype),
          arg(fused ? prm.residual : none), arg(prm.out), KernelArg::scalar(cols),
          KernelArg::scalar(eps), KernelArg::scalar(dtype)},
         {static_cast<size_t>(x.rows()), 1, 1}, {kRowThreads, 1, 1});
}

void rope(tsr_stream_s* stream, const tsr_rope_params* p, bool execute) {
  constexpr const char* op = "rope";
  const auto [query, positions, key, has_key, tensors] = check_rope(p, op);
  const auto& prm = *p;
  require_on_device(stream, tensors, op);
  // LongRoPE's two tables share the by-value array.
  const int max_rotary_dim = 2 * kRopeMaxPairs / rope_frequency_tables(prm);
  TSR_PLUGIN_CHECK(prm.rotary_dim <= max_rotary_dim, TSR_ERROR_CODE_UNIMPLEMENTED,
                   "%s: rotary_dim %d exceeds this plugin's maximum of %d", op, prm.rotary_dim,
                   max_rotary_dim);
  if (!execute || query.dim(0) == 0) return;
  RopeFrequencies freq{};
  rope_inverse_frequencies(prm, freq.v);
  const int64_t tokens = query.dim(0);
  const int32_t q_heads = static_cast<int32_t>(query.dim(1));
  const int32_t k_heads = has_key ? static_cast<int32_t>(key.dim(1)) : 0;
  const int32_t head_dim = static_cast<int32_t>(query.dim(2));
  const int32_t rotary_dim = prm.rotary_dim;
  const int32_t neox = prm.neox_style != 0 ? 1 : 0;
  const int32_t long_from = rope_long_from_position(prm);
  const float attention_factor = rope_attention_factor(prm);
  const int32_t dtype = query.dtype;
  const tsr_tensor none{};
  const size_t pairs = static_cast<size_t>(rotary_dim / 2);
  if (pairs == 0) return;
  launch(
      stream, "xpu_rope",
      {arg(prm.query), arg(has_key ? prm.key : none), arg(prm.positions), KernelArg::scalar(tokens),
       KernelArg::scalar(q_heads), KernelArg::scalar(k_heads), KernelArg::scalar(head_dim),
       KernelArg::scalar(rotary_dim), KernelArg::scalar(neox), KernelArg::scalar(long_from),
       KernelArg::scalar(attention_factor), KernelArg::scalar(dtype), KernelArg::scalar(freq)},
      {pairs, static_cast<size_t>(q_heads + k_heads), static_cast<size_t>(tokens)}, {1, 1, 1});
}

void silu_mul(tsr_stream_s* stream, const tsr_silu_mul_params* p, bool execute) {
  constexpr const char* op = "silu_mul";
  const auto [x, out, tensors] = check_silu_mul(p, op);
  const auto& prm = *p;
  require_on_device(stream, tensors, op);
  if (!execute || out.numel == 0) return;
  const int64_t rows = x.rows();
  const int64_t inner = out.cols();
  const int32_t dtype = x.dtype;
  launch(stream, "xpu_silu_mul",
         {arg(prm.x), arg(prm.out), KernelArg::scalar(rows), KernelArg::scalar(inner),
          KernelArg::scalar(dtype)},
         {groups_for(inner, 64), static_cast<size_t>(rows), 1}, {64, 1, 1});
}

void gelu_tanh_mul(tsr_stream_s* stream, const tsr_gelu_tanh_mul_params* p, bool execute) {
  constexpr const char* op = "gelu_tanh_mul";
  const auto [x, out, tensors] = check_gelu_tanh_mul(p, op);
  const auto& prm = *p;
  require_on_device(stream, tensors, op);
  if (!execute || out.numel == 0) return;
  const int64_t rows = x.rows();
  const int64_t inner = out.cols();
  const int32_t dtype = x.dtype;
  launch(stream, "xpu_gelu_tanh_mul",
         {arg(prm.x), arg(prm.out), KernelArg::scalar(rows), KernelArg::scalar(inner),
          KernelArg::scalar(dtype)},
         {groups_for(inner, 64), static_cast<size_t>(rows), 1}, {64, 1, 1});
}

void add(tsr_stream_s* stream, const tsr_add_params* p, bool execute) {
  constexpr const char* op = "add";
  const auto [a, b, out, tensors] = check_add(p, op);
  const auto& prm = *p;
  require_on_device(stream, tensors, op);
  if (!execute || out.numel == 0) return;
  const int64_t n = out.numel;
  const int32_t dtype = a.dtype;
  launch(stream, "xpu_add",
         {arg(prm.a), arg(prm.b), arg(prm.out), KernelArg::scalar(n), KernelArg::scalar(dtype)},
         {groups_for(n, 256), 1, 1}, {256, 1, 1});
}

}  // namespace tsr::xpu::ops
