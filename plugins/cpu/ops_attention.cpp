// Paged attention over a flat mixed batch (prefill chunks and decode rows), causal, with
// GQA, sliding window and logit soft-capping. One work item is (query token, KV head): it
// walks that sequence's blocks once, converting each block's K/V rows of that head to f32
// if needed, and keeps an online softmax (running max, running sum, f32 accumulator) for
// every query head of the GQA group, so no score matrix is materialised.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "convert.h"
#include "cpu_internal.h"
#include "kernels.h"
#include "kv_layout.h"
#include "ops.h"
#include "parallel.h"
#include "op_checks.h"
#include "tensor_check.h"

namespace tsr::cpu::ops {
namespace {

struct Batch {
  const int32_t* qsl;
  const int32_t* seq_lens;
  const int32_t* tables;
  int64_t num_seqs;
  int64_t max_blocks;
};

// The batch description's values, which only the CPU can read (shapes and dtypes were
// checked by check_paged_attention).
Batch check_batch(const tsr_paged_attention_params& p, const PagedAttentionViews& v,
                  int64_t block_size, const char* op) {
  const int64_t tokens = v.tokens;
  const int64_t b = v.num_seqs;
  Batch batch{v.query_start_loc.as<int32_t>(), v.seq_lens.as<int32_t>(),
              v.block_tables.as<int32_t>(), b, v.block_tables.dim(1)};
  TSR_PLUGIN_CHECK_ARG(batch.qsl[0] == 0, "%s: query_start_loc[0] must be 0", op);
  TSR_PLUGIN_CHECK_ARG(batch.qsl[b] == tokens,
                       "%s: query_start_loc[%lld] = %d must equal the number of query tokens "
                       "%lld",
                       op, static_cast<long long>(b), batch.qsl[b], static_cast<long long>(tokens));
  for (int64_t s = 0; s < b; ++s) {
    const int64_t q_len = static_cast<int64_t>(batch.qsl[s + 1]) - batch.qsl[s];
    const int64_t len = batch.seq_lens[s];
    TSR_PLUGIN_CHECK_ARG(q_len >= 0, "%s: query_start_loc must be non-decreasing (at %lld)", op,
                         static_cast<long long>(s));
    TSR_PLUGIN_CHECK_ARG(
        len >= q_len, "%s: seq_lens[%lld] = %lld is smaller than its %lld query rows", op,
        static_cast<long long>(s), static_cast<long long>(len), static_cast<long long>(q_len));
    TSR_PLUGIN_CHECK_ARG(len <= p.max_seq_len, "%s: seq_lens[%lld] = %lld exceeds max_seq_len %d",
                         op, static_cast<long long>(s), static_cast<long long>(len), p.max_seq_len);
    const int64_t needed = (len + block_size - 1) / block_size;
    TSR_PLUGIN_CHECK_ARG(needed <= batch.max_blocks,
                         "%s: seq_lens[%lld] = %lld needs %lld blocks, block_tables has %lld "
                         "columns",
                         op, static_cast<long long>(s), static_cast<long long>(len),
                         static_cast<long long>(needed), static_cast<long long>(batch.max_blocks));
    for (int64_t j = 0; j < needed; ++j) {
      const int32_t id = batch.tables[s * batch.max_blocks + j];
      TSR_PLUGIN_CHECK_ARG(id >= 0 && id < p.num_blocks,
                           "%s: block_tables[%lld, %lld] = %d is not in [0, num_blocks %lld)", op,
                           static_cast<long long>(s), static_cast<long long>(j), id,
                           static_cast<long long>(p.num_blocks));
    }
  }
  return batch;
}

struct HeadTask {
  const KvGeometry* g;
  tsr_dtype cache_dtype;
  const unsigned char* cache;
  const int32_t* table;  // this sequence's block ids
  int64_t lo;            // first attended position
  int64_t hi;            // last attended position (inclusive)
  float scale;
  float softcap;
};

// Attention of `group` query heads (rows q, each g->dim floats) against one KV head.
void attend(const HeadTask& task, int64_t kv_head, const float* q, int64_t group, float* acc) {
  const Kernels& k = kernels();
  const KvGeometry& g = *task.g;
  const int64_t dim = g.dim;
  const int64_t bs = g.block_size;
  float* state = scratch_f32(2, static_cast<size_t>(2 * group));
  float* m = state;
  float* l = state + group;
  float* scores = scratch_f32(5, static_cast<size_t>(bs));
  for (int64_t h = 0; h < group; ++h) {
    m[h] = -std::numeric_limits<float>::infinity();
    l[h] = 0.0f;
  }
  std::fill(acc, acc + group * dim, 0.0f);
  for (int64_t j = task.lo / bs; j <= task.hi / bs; ++j) {
    const int64_t first = std::max(task.lo, j * bs);
    const int64_t last = std::min(task.hi, j * bs + bs - 1);
    const int64_t n = last - first + 1;
    const int64_t block = task.table[j];
    const int64_t offset = first - j * bs;
    const float* keys =
        as_f32(task.cache + g.key_offset(block, offset, kv_head), task.cache_dtype, n * dim, 3);
    const float* values =
        as_f32(task.cache + g.value_offset(block, offset, kv_head), task.cache_dtype, n * dim, 4);
    for (int64_t h = 0; h < group; ++h) {
      k.scaled_dots(q + h * dim, keys, n, dim, task.scale, scores);
      float block_max = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < n; ++i) {
        if (task.softcap > 0.0f) scores[i] = task.softcap * std::tanh(scores[i] / task.softcap);
        block_max = std::max(block_max, scores[i]);
      }
      const float m_new = std::max(m[h], block_max);
      float* acc_h = acc + h * dim;
      if (m[h] != m_new && l[h] > 0.0f) {
        float correction = std::exp(m[h] - m_new);
        // A subnormal would make acc_h subnormal (kernels.h, exp_shifted_sum).
        if (correction < std::numeric_limits<float>::min()) correction = 0.0f;
        l[h] *= correction;
        k.scale(correction, acc_h, dim);
      }
      m[h] = m_new;
      l[h] += k.exp_shifted_sum(scores, n, m_new);
      k.weighted_rows(scores, values, n, dim, acc_h);
    }
  }
  for (int64_t h = 0; h < group; ++h) {
    k.scale(l[h] > 0.0f ? 1.0f / l[h] : 0.0f, acc + h * dim, dim);
  }
}

}  // namespace

void paged_attention(const tsr_paged_attention_params* p, bool execute) {
  constexpr const char* op = "paged_attention";
  const PagedAttentionViews v = check_paged_attention(p, op);
  const auto& prm = *p;
  const View& query = v.query;
  const View& out = v.out;
  const int64_t tokens = v.tokens;
  const int64_t hq = v.query_heads;
  const int64_t hkv = v.kv_heads;
  const KvGeometry g(prm.layout);
  const Batch batch = check_batch(prm, v, g.block_size, op);
  if (!execute || tokens == 0) return;

  // Grows once, then reused: no allocation per call.
  thread_local std::vector<int32_t> seq_of;
  if (seq_of.size() < static_cast<size_t>(tokens)) seq_of.resize(static_cast<size_t>(tokens));
  for (int64_t s = 0; s < batch.num_seqs; ++s) {
    for (int32_t t = batch.qsl[s]; t < batch.qsl[s + 1]; ++t) seq_of[t] = static_cast<int32_t>(s);
  }
  // A pointer, not the thread_local: inside the loop that name is each worker's own vector.
  const int32_t* seq_index = seq_of.data();
  const int64_t group = hq / hkv;
  const int64_t dim = g.dim;
  const auto* cache = static_cast<const unsigned char*>(prm.cache->data);
  const int64_t items = tokens * hkv;
  parallel_for(
      items,
      [&](int64_t item) {
        const int64_t t = item / hkv;
        const int64_t kv_head = item % hkv;
        const int64_t s = seq_index[t];
        const int64_t q_len = batch.qsl[s + 1] - batch.qsl[s];
        const int64_t pos = batch.seq_lens[s] - q_len + (t - batch.qsl[s]);
        HeadTask task{
            &g,
            prm.layout.dtype,
            cache,
            batch.tables + s * batch.max_blocks,
            prm.sliding_window > 0 ? std::max<int64_t>(0, pos - prm.sliding_window + 1) : 0,
            pos,
            prm.scale,
            prm.logit_softcap};
        const size_t row = static_cast<size_t>((t * hq + kv_head * group) * dim);
        const float* q = as_f32(query.data + row * query.elem, query.dtype, group * dim, 0);
        float* acc = scratch_f32(1, static_cast<size_t>(group * dim));
        attend(task, kv_head, q, group, acc);
        store_f32(acc, out.dtype, out.data + row * out.elem, group * dim);
      },
      true, Schedule::kDynamic);
}

}  // namespace tsr::cpu::ops
