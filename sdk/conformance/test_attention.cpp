// paged_attention over mixed batches (decode rows, whole prefills, chunked prefills) with
// scattered block tables, GQA ratios 1, 4 and 7, head_dim 64/128, block sizes 16 and odd,
// sliding window and soft-capping. The context is written with kv_cache_write, so this test
// needs that op too.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "harness.h"
#include "reference_ops.h"

namespace tsr::conformance {
namespace {

TSR_CONFORMANCE_COVERS(paged_attention);

class PagedAttention : public ConformanceTest {};

struct Seq {
  int32_t q_len, ctx;
};

struct AttnCase {
  int32_t hq, hkv, dim, block;
  std::vector<Seq> seqs;
  int32_t sliding_window = 0;
  float softcap = 0.0f;
};

std::string describe(const AttnCase& c) {
  std::string s = "Hq=" + std::to_string(c.hq) + " Hkv=" + std::to_string(c.hkv) +
                  " D=" + std::to_string(c.dim) + " block=" + std::to_string(c.block) + " seqs=";
  for (const Seq& q : c.seqs)
    s += "(" + std::to_string(q.q_len) + "/" + std::to_string(q.ctx) + ")";
  if (c.sliding_window > 0) s += " window=" + std::to_string(c.sliding_window);
  if (c.softcap > 0) s += " softcap=" + std::to_string(c.softcap);
  return s;
}

TEST_F(PagedAttention, MixedBatches) {
  TSR_REQUIRE_OP(TSR_OP_PAGED_ATTENTION);
  if (!op_available(TSR_OP_KV_CACHE_WRITE)) {
    GTEST_SKIP() << "paged_attention needs kv_cache_write to fill the cache, which plugin "
                 << plugin().name << " does not support";
  }
  CaseSkips skips(TSR_OP_PAGED_ATTENTION);
  const std::vector<AttnCase> cases = {
      {1, 1, 64, 16, {{1, 1}}},
      {4, 1, 128, 16, {{1, 17}, {33, 33}, {1, 100}}},
      {7, 1, 64, 16, {{5, 40}, {1, 16}, {1, 2}}},
      {8, 2, 128, 16, {{129, 129}, {1, 64}}},
      {4, 4, 64, 7, {{3, 3}, {1, 23}, {9, 30}}},
      {14, 2, 64, 33, {{1, 70}, {12, 12}}},
      {4, 1, 64, 16, {{20, 50}, {1, 50}}, 16, 0.0f},
      {8, 8, 64, 16, {{7, 7}, {1, 37}}, 0, 30.0f},
      // Decode-only batches (one query row per sequence) with long contexts: the shape GPU
      // plugins run through their split-KV decode path, with wide GQA groups and odd sizes.
      {8, 1, 128, 16, {{1, 1000}, {1, 1}, {1, 513}}},
      {32, 8, 64, 16, {{1, 300}, {1, 2048}}},
      {12, 2, 32, 5, {{1, 77}, {1, 401}, {1, 3}, {1, 160}}},
      {16, 2, 16, 16, {{1, 600}}, 128, 0.0f},
  };
  for (tsr_dtype dt : activation_dtypes()) {
    if (!(plugin().props.kv_cache_dtypes & TSR_DTYPE_BIT(dt))) continue;
    for (const AttnCase& c : cases) {
      const std::string name = std::string(dtype_label(dt)) + " " + describe(c);
      SCOPED_TRACE(name);
      const tsr_kv_layout layout{sizeof(tsr_kv_layout), c.hkv, c.dim, c.block, dt};
      uint64_t block_bytes = 0;
      if (!take(api().kv_block_bytes(device(), &layout, &block_bytes)).ok) {
        skips.declined(name + " (kv_block_bytes)");
        continue;
      }
      const int32_t b_count = static_cast<int32_t>(c.seqs.size());
      std::vector<int32_t> qsl{0}, seq_lens;
      int32_t max_blocks = 0, total_blocks = 0, max_ctx = 0, ctx_tokens = 0;
      for (const Seq& q : c.seqs) {
        qsl.push_back(qsl.back() + q.q_len);
        seq_lens.push_back(q.ctx);
        const int32_t nb = (q.ctx + c.block - 1) / c.block;
        max_blocks = std::max(max_blocks, nb);
        total_blocks += nb;
        max_ctx = std::max(max_ctx, q.ctx);
        ctx_tokens += q.ctx;
      }
      max_blocks += 1;  // a spare column: tables are padded in practice
      const int64_t num_blocks = total_blocks + 3;
      const int64_t tokens = qsl.back();
      // Scattered, non-overlapping block ids.
      std::vector<int32_t> pool(num_blocks);
      std::iota(pool.begin(), pool.end(), 0);
      std::shuffle(pool.begin(), pool.end(), rng());
      std::vector<double> table(static_cast<size_t>(b_count) * max_blocks, 0.0);
      std::vector<double> slots;
      ref::AttentionBatch batch;
      batch.query_start_loc = qsl;
      batch.seq_lens = seq_lens;
      batch.num_query_heads = c.hq;
      batch.num_kv_heads = c.hkv;
      batch.head_dim = c.dim;
      batch.scale = 1.0 / std::sqrt(static_cast<double>(c.dim));
      batch.sliding_window = c.sliding_window;
      batch.logit_softcap = c.softcap;
      std::vector<double> all_k, all_v;
      size_t next = 0;
      for (int32_t b = 0; b < b_count; ++b) {
        const int32_t nb = (seq_lens[b] + c.block - 1) / c.block;
        for (int32_t i = 0; i < nb; ++i) table[b * max_blocks + i] = pool[next++];
        for (int32_t j = 0; j < seq_lens[b]; ++j) {
          slots.push_back(table[b * max_blocks + j / c.block] * c.block + j % c.block);
        }
        const size_t n = static_cast<size_t>(seq_lens[b]) * c.hkv * c.dim;
        batch.keys.push_back(rounded(dt, random_normal(n)));
        batch.values.push_back(rounded(dt, random_normal(n)));
        all_k.insert(all_k.end(), batch.keys.back().begin(), batch.keys.back().end());
        all_v.insert(all_v.end(), batch.values.back().begin(), batch.values.back().end());
      }
      Stream s;
      Buffer cache(block_bytes * num_blocks);
      Tensor slot_t(s, TSR_DTYPE_I64, {ctx_tokens}, "slot_mapping");
      Tensor k_t(s, dt, {ctx_tokens, c.hkv, c.dim}, "key"),
          v_t(s, dt, {ctx_tokens, c.hkv, c.dim}, "value");
      Tensor query(s, dt, {tokens, c.hq, c.dim}, "query"), out(s, dt, {tokens, c.hq, c.dim}, "out");
      Tensor qsl_t(s, TSR_DTYPE_I32, {b_count + 1}, "query_start_loc");
      Tensor lens_t(s, TSR_DTYPE_I32, {b_count}, "seq_lens");
      Tensor table_t(s, TSR_DTYPE_I32, {b_count, max_blocks}, "block_tables");
      tsr_kv_cache_write_params w{sizeof(tsr_kv_cache_write_params),
                                  k_t.view(),
                                  v_t.view(),
                                  slot_t.view(),
                                  cache.get(),
                                  layout,
                                  num_blocks};
      tsr_paged_attention_params p{};
      p.struct_size = sizeof p;
      p.query = query.view();
      p.out = out.view();
      p.cache = cache.get();
      p.layout = layout;
      p.num_blocks = num_blocks;
      p.query_start_loc = qsl_t.view();
      p.seq_lens = lens_t.view();
      p.block_tables = table_t.view();
      p.num_query_heads = c.hq;
      // max_seq_len is only an upper bound: decode batches get a loose one, as when an engine
      // captures one graph for every context length.
      p.max_seq_len = tokens == b_count ? 4 * max_ctx : max_ctx;
      p.scale = static_cast<float>(batch.scale);
      p.sliding_window = c.sliding_window;
      p.logit_softcap = c.softcap;
      slot_t.upload(slots);
      k_t.upload(all_k);
      v_t.upload(all_v);
      const std::vector<double> qv =
          rounded(dt, random_normal(static_cast<size_t>(tokens) * c.hq * c.dim));
      query.upload(qv);
      qsl_t.upload(std::vector<double>(qsl.begin(), qsl.end()));
      lens_t.upload(std::vector<double>(seq_lens.begin(), seq_lens.end()));
      table_t.upload(table);
      // Asked with every input in place: a plugin may look at index contents.
      if (!op_supported_for(TSR_OP_KV_CACHE_WRITE, &w) ||
          !op_supported_for(TSR_OP_PAGED_ATTENTION, &p)) {
        skips.declined(name);
        continue;
      }
      skips.ran();
      TSR_ASSERT_OK(api().ops->kv_cache_write(s.get(), &w));
      TSR_ASSERT_OK(api().ops->paged_attention(s.get(), &p));
      s.sync();
      EXPECT_TRUE(close(out.values(), ref::paged_attention(qv, batch), tolerance(dt)));
      for (const Tensor* t : {&query, &out, &qsl_t, &lens_t, &table_t}) t->check_guards();
    }
  }
  TSR_FINISH_CASES(skips);
}

}  // namespace
}  // namespace tsr::conformance
