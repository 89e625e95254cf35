// Paged attention on a mixed batch (a fresh prefill, a decode row, a chunked prefill)
// with GQA, scattered block tables, sliding window and soft-capping, against a
// straightforward double reference; then the KV block ops (read, copy, swap) preserve it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "plugin_harness.h"
#include "reference.h"

namespace tsr::test {
namespace {

struct Batch {
  AttentionCase c;
  tsr_kv_layout layout{};
  int64_t num_blocks = 24;
  int64_t max_blocks = 0;
  std::vector<int32_t> tables;
  std::vector<std::vector<float>> keys;
  std::vector<std::vector<float>> values;
  tsr_buffer_t cache = nullptr;
};

Batch make_batch(Plugin& p, tsr_dtype kv_dtype) {
  Batch b;
  b.c.hq = 8;
  b.c.hkv = 2;
  b.c.dim = 32;
  b.c.seq_lens = {5, 19, 23};
  b.c.query_start_loc = {0, 5, 6, 10};
  b.c.scale = 1.0f / std::sqrt(32.0f);
  b.layout.struct_size = sizeof b.layout;
  b.layout.num_kv_heads = 2;
  b.layout.head_dim = 32;
  b.layout.block_size = 4;
  b.layout.dtype = kv_dtype;
  b.max_blocks = 6;
  std::vector<int32_t> ids(static_cast<size_t>(b.num_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(11));
  b.tables.assign(static_cast<size_t>(3 * b.max_blocks), 0);
  size_t next = 0;
  for (int s = 0; s < 3; ++s) {
    const int needed = (b.c.seq_lens[static_cast<size_t>(s)] + 3) / 4;
    for (int j = 0; j < needed; ++j)
      b.tables[static_cast<size_t>(s * b.max_blocks + j)] = ids[next++];
  }
  uint64_t block_bytes = 0;
  EXPECT_TRUE(take(p.api().kv_block_bytes(p.device(), &b.layout, &block_bytes)).ok());
  b.cache = p.alloc(static_cast<size_t>(block_bytes * static_cast<uint64_t>(b.num_blocks)));

  // Write every context token (plus one padding token with slot -1) in one call.
  std::vector<float> all_k;
  std::vector<float> all_v;
  std::vector<int64_t> slots;
  for (int s = 0; s < 3; ++s) {
    const int len = b.c.seq_lens[static_cast<size_t>(s)];
    b.keys.push_back(random_floats(static_cast<size_t>(len * 2 * 32), 100 + s));
    b.values.push_back(random_floats(static_cast<size_t>(len * 2 * 32), 200 + s));
    all_k.insert(all_k.end(), b.keys.back().begin(), b.keys.back().end());
    all_v.insert(all_v.end(), b.values.back().begin(), b.values.back().end());
    for (int pos = 0; pos < len; ++pos) {
      slots.push_back(int64_t{b.tables[static_cast<size_t>(s * b.max_blocks + pos / 4)]} * 4 +
                      pos % 4);
    }
  }
  const std::vector<float> pad(64, 1000.0f);
  all_k.insert(all_k.end(), pad.begin(), pad.end());
  all_v.insert(all_v.end(), pad.begin(), pad.end());
  slots.push_back(-1);
  const int64_t total = static_cast<int64_t>(slots.size());
  tsr_kv_cache_write_params w{};
  w.struct_size = sizeof w;
  w.key = p.upload(all_k, TSR_DTYPE_F32, {total, 2, 32});
  w.value = p.upload(all_v, TSR_DTYPE_F32, {total, 2, 32});
  w.slot_mapping = p.upload(slots, TSR_DTYPE_I64, {total});
  w.cache = b.cache;
  w.layout = b.layout;
  w.num_blocks = b.num_blocks;
  const Status s = take(p.ops().kv_cache_write(p.stream(), &w));
  EXPECT_TRUE(s.ok()) << s.message;

  // What the cache holds (rounded to its dtype) is what the reference attends to.
  slots.pop_back();
  tsr_kv_cache_read_params r{};
  r.struct_size = sizeof r;
  r.slot_mapping = p.upload(slots, TSR_DTYPE_I64, {total - 1});
  r.cache = b.cache;
  r.layout = b.layout;
  r.num_blocks = b.num_blocks;
  r.key = p.empty(TSR_DTYPE_F32, {total - 1, 2, 32});
  r.value = p.empty(TSR_DTYPE_F32, {total - 1, 2, 32});
  EXPECT_TRUE(take(p.ops().kv_cache_read(p.stream(), &r)).ok());
  const auto stored_k = p.download<float>(r.key, static_cast<size_t>((total - 1) * 64));
  const auto stored_v = p.download<float>(r.value, static_cast<size_t>((total - 1) * 64));
  size_t offset = 0;
  for (int s2 = 0; s2 < 3; ++s2) {
    const size_t n = b.keys[static_cast<size_t>(s2)].size();
    std::vector<float> k(stored_k.begin() + static_cast<std::ptrdiff_t>(offset),
                         stored_k.begin() + static_cast<std::ptrdiff_t>(offset + n));
    std::vector<float> v(stored_v.begin() + static_cast<std::ptrdiff_t>(offset),
                         stored_v.begin() + static_cast<std::ptrdiff_t>(offset + n));
    const double tol = kv_dtype == TSR_DTYPE_F32 ? 0.0 : 1e-2;
    EXPECT_LE(normalized_error(k, b.keys[static_cast<size_t>(s2)]), tol);
    b.keys[static_cast<size_t>(s2)] = k;
    b.values[static_cast<size_t>(s2)] = v;
    offset += n;
  }
  return b;
}

std::vector<float> run_attention(Plugin& p, const Batch& b, const std::vector<int32_t>& tables,
                                 const std::vector<float>& q, tsr_dtype q_dtype) {
  const int64_t t = b.c.query_start_loc.back();
  tsr_paged_attention_params a{};
  a.struct_size = sizeof a;
  a.query = q_dtype == TSR_DTYPE_F32 ? p.upload(q, TSR_DTYPE_F32, {t, 8, 32})
                                     : p.upload(to_bf16(q), TSR_DTYPE_BF16, {t, 8, 32});
  a.out = p.empty(q_dtype, {t, 8, 32});
  a.cache = b.cache;
  a.layout = b.layout;
  a.num_blocks = b.num_blocks;
  a.query_start_loc = p.upload(b.c.query_start_loc, TSR_DTYPE_I32, {4});
  a.seq_lens = p.upload(b.c.seq_lens, TSR_DTYPE_I32, {3});
  a.block_tables = p.upload(tables, TSR_DTYPE_I32, {3, b.max_blocks});
  a.num_query_heads = 8;
  a.max_seq_len = 23;
  a.scale = b.c.scale;
  a.sliding_window = b.c.sliding_window;
  a.logit_softcap = b.c.softcap;
  const Status s = take(p.ops().paged_attention(p.stream(), &a));
  EXPECT_TRUE(s.ok()) << s.message;
  const size_t n = static_cast<size_t>(t * 8 * 32);
  if (q_dtype == TSR_DTYPE_F32) return p.download<float>(a.out, n);
  return from_bf16(p.download<uint16_t>(a.out, n));
}

struct Variant {
  tsr_dtype kv;
  tsr_dtype q;
  int32_t window;
  float softcap;
};

class PagedAttention : public ::testing::TestWithParam<Variant> {};

TEST_P(PagedAttention, MixedBatchMatchesDoubleReference) {
  Plugin p;
  const Variant v = GetParam();
  Batch b = make_batch(p, v.kv);
  b.c.sliding_window = v.window;
  b.c.softcap = v.softcap;
  auto q = random_floats(static_cast<size_t>(10 * 8 * 32), 42, -2.0f, 2.0f);
  if (v.q == TSR_DTYPE_BF16) q = from_bf16(to_bf16(q));
  const auto ref = attention(b.c, q, b.keys, b.values);
  const auto got = run_attention(p, b, b.tables, q, v.q);
  EXPECT_LT(normalized_error(got, ref), v.q == TSR_DTYPE_F32 ? 1e-5 : 1e-2);
}

INSTANTIATE_TEST_SUITE_P(Variants, PagedAttention,
                         ::testing::Values(Variant{TSR_DTYPE_F32, TSR_DTYPE_F32, 0, 0.0f},
                                           Variant{TSR_DTYPE_F32, TSR_DTYPE_F32, 6, 0.0f},
                                           Variant{TSR_DTYPE_F32, TSR_DTYPE_F32, 0, 2.0f},
                                           Variant{TSR_DTYPE_BF16, TSR_DTYPE_F32, 5, 3.0f},
                                           Variant{TSR_DTYPE_F16, TSR_DTYPE_F32, 0, 0.0f},
                                           Variant{TSR_DTYPE_BF16, TSR_DTYPE_BF16, 0, 0.0f}));

TEST(KvBlocks, CopyAndSwapPreserveAttention) {
  Plugin p;
  Batch b = make_batch(p, TSR_DTYPE_BF16);
  const auto q = random_floats(static_cast<size_t>(10 * 8 * 32), 43);
  const auto before = run_attention(p, b, b.tables, q, TSR_DTYPE_F32);
  uint64_t block_bytes = 0;
  ASSERT_TRUE(take(p.api().kv_block_bytes(p.device(), &b.layout, &block_bytes)).ok());
  EXPECT_EQ(block_bytes, 2u * 2 * 4 * 32 * 2);

  // Swap sequence 1's blocks out, clobber them, swap them back in.
  std::vector<int64_t> dev_ids;
  for (int j = 0; j < 5; ++j) dev_ids.push_back(b.tables[static_cast<size_t>(b.max_blocks + j)]);
  std::vector<int64_t> host_ids = {4, 0, 3, 1, 2};
  tsr_buffer_t swap = p.alloc(static_cast<size_t>(block_bytes * 5), TSR_BUFFER_KIND_HOST_PINNED);
  tsr_swap_blocks_params sw{};
  sw.struct_size = sizeof sw;
  sw.device_buffer = b.cache;
  sw.host_buffer = swap;
  sw.direction = TSR_SWAP_DIRECTION_OUT;
  sw.block_bytes = block_bytes;
  sw.src_ids = dev_ids.data();
  sw.dst_ids = host_ids.data();
  sw.num_pairs = 5;
  ASSERT_TRUE(take(p.ops().swap_blocks(p.stream(), &sw)).ok());
  for (int64_t id : dev_ids) {
    ASSERT_TRUE(take(p.api().memset_d(p.stream(), b.cache, static_cast<size_t>(id) * block_bytes, 0,
                                      block_bytes))
                    .ok());
  }
  EXPECT_GT(normalized_error(run_attention(p, b, b.tables, q, TSR_DTYPE_F32), before), 1e-3);
  sw.direction = TSR_SWAP_DIRECTION_IN;
  sw.src_ids = host_ids.data();
  sw.dst_ids = dev_ids.data();
  ASSERT_TRUE(take(p.ops().swap_blocks(p.stream(), &sw)).ok());
  EXPECT_EQ(run_attention(p, b, b.tables, q, TSR_DTYPE_F32), before);

  // Copy sequence 2's blocks to the unused ids and point its table at the copies.
  std::vector<int32_t> used(b.tables.begin(), b.tables.end());
  std::vector<int64_t> src;
  std::vector<int64_t> dst;
  std::vector<int32_t> tables = b.tables;
  int64_t candidate = 0;
  for (int j = 0; j < 6; ++j) {
    while (std::find(used.begin(), used.end(), candidate) != used.end()) ++candidate;
    src.push_back(b.tables[static_cast<size_t>(2 * b.max_blocks + j)]);
    dst.push_back(candidate);
    tables[static_cast<size_t>(2 * b.max_blocks + j)] = static_cast<int32_t>(candidate);
    used.push_back(static_cast<int32_t>(candidate));
  }
  tsr_copy_blocks_params cp{};
  cp.struct_size = sizeof cp;
  cp.src = b.cache;
  cp.dst = b.cache;
  cp.block_bytes = block_bytes;
  cp.src_ids = src.data();
  cp.dst_ids = dst.data();
  cp.num_pairs = static_cast<int64_t>(src.size());
  ASSERT_TRUE(take(p.ops().copy_blocks(p.stream(), &cp)).ok());
  EXPECT_EQ(run_attention(p, b, tables, q, TSR_DTYPE_F32), before);
}

}  // namespace
}  // namespace tsr::test
