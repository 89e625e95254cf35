// Row-wise and elementwise ops: embedding, silu_mul, gelu_tanh_mul, add, gather_rows. Index tensors
// are checked completely before anything is written, so a bad id leaves the output untouched.
#include <cstring>

#include "convert.h"
#include "cpu_internal.h"
#include "kernels.h"
#include "op_checks.h"
#include "ops.h"
#include "parallel.h"
#include "tensor_check.h"

namespace tsr::cpu::ops {
namespace {

void check_indices(const int32_t* ids, int64_t count, int64_t limit, const char* op,
                   const char* field) {
  for (int64_t i = 0; i < count; ++i) {
    TSR_PLUGIN_CHECK_ARG(ids[i] >= 0 && ids[i] < limit, "%s: %s[%lld] = %d is not in [0, %lld)", op,
                         field, static_cast<long long>(i), ids[i], static_cast<long long>(limit));
  }
}

void copy_rows(const unsigned char* src, const int32_t* ids, int64_t count, size_t row_bytes,
               unsigned char* dst) {
  const int64_t work = count * static_cast<int64_t>(row_bytes);
  parallel_for(
      count,
      [&](int64_t t) {
        std::memcpy(dst + static_cast<size_t>(t) * row_bytes,
                    src + static_cast<size_t>(ids[t]) * row_bytes, row_bytes);
      },
      work > 4 * kParallelGrain);
}

}  // namespace

void embedding(const tsr_embedding_params* p, bool execute) {
  constexpr const char* op = "embedding";
  const EmbeddingViews v = check_embedding(p, op);
  const View& ids = v.ids;
  const View& table = v.table;
  const View& out = v.out;
  check_indices(ids.as<int32_t>(), ids.numel, table.dim(0), op, "ids");
  if (!execute) return;
  copy_rows(table.data, ids.as<int32_t>(), ids.numel,
            static_cast<size_t>(table.dim(1)) * table.elem, out.data);
}

void gather_rows(const tsr_gather_rows_params* p, bool execute) {
  constexpr const char* op = "gather_rows";
  const GatherRowsViews v = check_gather_rows(p, op);
  const View& x = v.x;
  const View& indices = v.indices;
  const View& out = v.out;
  check_indices(indices.as<int32_t>(), indices.numel, x.dim(0), op, "indices");
  if (!execute) return;
  if (out.numel == 0) return;
  copy_rows(x.data, indices.as<int32_t>(), indices.numel,
            static_cast<size_t>(out.numel / out.dim(0)) * x.elem, out.data);
}

namespace {

// silu_mul and gelu_tanh_mul: out[r] = act(gate[r]) * up[r] for x's rows [gate | up].
void gated_activation(const SiluMulViews& v,
                      void (*kernel)(const float*, const float*, float*, int64_t)) {
  const View& x = v.x;
  const View& out = v.out;
  const int64_t rows = x.rows();
  const int64_t inter = out.cols();
  const tsr_dtype dtype = x.dtype;
  parallel_for(
      rows,
      [&](int64_t r) {
        const unsigned char* row = x.data + static_cast<size_t>(r * 2 * inter) * x.elem;
        const float* gate = as_f32(row, dtype, inter, 0);
        const float* up = as_f32(row + static_cast<size_t>(inter) * x.elem, dtype, inter, 1);
        unsigned char* dst = out.data + static_cast<size_t>(r * inter) * out.elem;
        float* result = dtype == TSR_DTYPE_F32 ? reinterpret_cast<float*>(dst)
                                               : scratch_f32(2, static_cast<size_t>(inter));
        kernel(gate, up, result, inter);
        if (dtype != TSR_DTYPE_F32) store_f32(result, dtype, dst, inter);
      },
      x.numel > kParallelGrain);
}

}  // namespace

void silu_mul(const tsr_silu_mul_params* p, bool execute) {
  const SiluMulViews v = check_silu_mul(p, "silu_mul");
  if (execute) gated_activation(v, kernels().silu_mul);
}

void gelu_tanh_mul(const tsr_gelu_tanh_mul_params* p, bool execute) {
  const SiluMulViews v = check_gelu_tanh_mul(p, "gelu_tanh_mul");
  if (execute) gated_activation(v, kernels().gelu_tanh_mul);
}

void add(const tsr_add_params* p, bool execute) {
  constexpr const char* op = "add";
  const AddViews v = check_add(p, op);
  const View& a = v.a;
  const View& b = v.b;
  const View& out = v.out;
  if (!execute) return;
  // Chunks keep bf16/f16 conversions in cache; out may alias a or b exactly, which is
  // safe because each chunk is read completely before it is written.
  constexpr int64_t kChunk = 4096;
  const int64_t n = a.numel;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const tsr_dtype dtype = a.dtype;
  const size_t elem = a.elem;
  parallel_for(
      chunks,
      [&](int64_t c) {
        const int64_t begin = c * kChunk;
        const int64_t len = n - begin < kChunk ? n - begin : kChunk;
        const size_t offset = static_cast<size_t>(begin) * elem;
        if (dtype == TSR_DTYPE_F32) {
          kernels().add(a.as<float>() + begin, b.as<float>() + begin, out.as<float>() + begin, len);
          return;
        }
        float* fa = scratch_f32(0, static_cast<size_t>(len));
        float* fb = scratch_f32(1, static_cast<size_t>(len));
        load_f32(a.data + offset, dtype, fa, len);
        load_f32(b.data + offset, dtype, fb, len);
        kernels().add(fa, fb, fa, len);
        store_f32(fa, dtype, out.data + offset, len);
      },
      n > kParallelGrain);
}

}  // namespace tsr::cpu::ops
