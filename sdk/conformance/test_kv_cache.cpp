// The KV cache ops, checked exactly: kv_cache_write then kv_cache_read returns what was
// written (bit-exact for an f32 cache), unwritten slots keep their content, negative slots
// are skipped; copy_blocks and swap_blocks move whole blocks byte for byte and touch nothing
// else. Block sizes come from kv_block_bytes; the inner layout is the plugin's.
#include <algorithm>
#include <numeric>

#include "harness.h"

namespace tsr::conformance {
namespace {

TSR_CONFORMANCE_COVERS(kv_cache_write);
TSR_CONFORMANCE_COVERS(kv_cache_read);
TSR_CONFORMANCE_COVERS(copy_blocks);
TSR_CONFORMANCE_COVERS(swap_blocks);

class KvCache : public ConformanceTest {};

constexpr size_t kTail = 256;

uint8_t tail_byte(size_t i) {
  return static_cast<uint8_t>(0x5Au + 7u * i);
}

std::vector<uint8_t> random_bytes(size_t n) {
  std::vector<uint8_t> out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(random_int(0, 255));
  return out;
}

// A cache-sized buffer followed by kTail guard bytes (a cache is addressed from offset 0 of
// its buffer, so the guard can only follow it).
struct GuardedCache {
  GuardedCache(const Stream& s, size_t bytes, tsr_buffer_kind kind = TSR_BUFFER_KIND_DEVICE)
      : stream(s), size(bytes), buffer(bytes + kTail, kind) {
    std::vector<uint8_t> fill = random_bytes(bytes);
    for (size_t i = 0; i < kTail; ++i) fill.push_back(tail_byte(i));
    buffer.write(s, 0, fill);
  }
  std::vector<uint8_t> bytes() const { return buffer.read(stream, 0, size); }
  void check_tail(const char* what) const {
    const std::vector<uint8_t> tail = buffer.read(stream, size, kTail);
    size_t bad = 0;
    for (size_t i = 0; i < kTail; ++i) bad += tail[i] != tail_byte(i);
    EXPECT_EQ(bad, 0u) << what << ": " << bad << " guard byte(s) past the end overwritten";
  }
  const Stream& stream;
  size_t size;
  Buffer buffer;
};

uint64_t block_bytes_for(const tsr_kv_layout& layout) {
  uint64_t bytes = 0;
  const Status st = take(api().kv_block_bytes(device(), &layout, &bytes));
  EXPECT_TRUE(st.ok) << "kv_block_bytes: " << st.message;
  return st.ok ? bytes : 0;
}

std::vector<tsr_dtype> kv_dtypes() {
  std::vector<tsr_dtype> out;
  for (tsr_dtype d : {TSR_DTYPE_F32, TSR_DTYPE_BF16, TSR_DTYPE_F16}) {
    if (plugin().props.kv_cache_dtypes & TSR_DTYPE_BIT(d)) out.push_back(d);
  }
  return out;
}

struct Layout {
  int32_t heads, dim, block;
};
const std::vector<Layout> kLayouts = {
    {1, 64, 16}, {4, 128, 16}, {3, 64, 7}, {2, 128, 1}, {7, 64, 33}};

TEST_F(KvCache, WriteThenReadBack) {
  TSR_REQUIRE_OP(TSR_OP_KV_CACHE_WRITE);
  if (!op_available(TSR_OP_KV_CACHE_READ)) {
    GTEST_SKIP() << "kv_cache_write is checked through kv_cache_read, which plugin "
                 << plugin().name << " does not support";
  }
  CaseSkips skips(TSR_OP_KV_CACHE_WRITE);
  const int64_t num_blocks = 5;
  for (tsr_dtype cache_dt : kv_dtypes()) {
    for (tsr_dtype act : activation_dtypes()) {
      for (const Layout& l : kLayouts) {
        const std::string name = std::string(dtype_label(act)) + " -> cache " +
                                 dtype_label(cache_dt) + " Hkv=" + std::to_string(l.heads) +
                                 " D=" + std::to_string(l.dim) +
                                 " block=" + std::to_string(l.block);
        SCOPED_TRACE(name);
        const tsr_kv_layout layout{sizeof(tsr_kv_layout), l.heads, l.dim, l.block, cache_dt};
        uint64_t block_bytes = 0;
        if (!take(api().kv_block_bytes(device(), &layout, &block_bytes)).ok) {
          skips.declined(name + " (kv_block_bytes)");
          continue;
        }
        const int64_t slots = num_blocks * l.block;
        const int64_t row = static_cast<int64_t>(l.heads) * l.dim;
        Stream s;
        GuardedCache cache(s, block_bytes * num_blocks);
        Tensor all_slots(s, TSR_DTYPE_I64, {slots}, "slot_mapping");
        Tensor key(s, act, {slots, l.heads, l.dim}, "key"),
            value(s, act, {slots, l.heads, l.dim}, "value");
        tsr_kv_cache_write_params w{sizeof(tsr_kv_cache_write_params),
                                    key.view(),
                                    value.view(),
                                    all_slots.view(),
                                    cache.buffer.get(),
                                    layout,
                                    num_blocks};
        tsr_kv_cache_read_params r{sizeof(tsr_kv_cache_read_params),
                                   all_slots.view(),
                                   cache.buffer.get(),
                                   layout,
                                   num_blocks,
                                   key.view(),
                                   value.view()};
        // 1. Fill every slot with A.
        std::vector<double> ids(slots);
        std::iota(ids.begin(), ids.end(), 0.0);
        all_slots.upload(ids);
        std::vector<double> ka = rounded(act, random_normal(slots * row));
        std::vector<double> va = rounded(act, random_normal(slots * row));
        key.upload(ka);
        value.upload(va);
        if (!op_supported_for(TSR_OP_KV_CACHE_WRITE, &w) ||
            !op_supported_for(TSR_OP_KV_CACHE_READ, &r)) {
          skips.declined(name);
          continue;
        }
        skips.ran();
        TSR_ASSERT_OK(api().ops->kv_cache_write(s.get(), &w));
        // 2. Write B to a random subset, with negative (padding) slots mixed in.
        std::vector<int64_t> order(slots);
        std::iota(order.begin(), order.end(), 0);
        std::shuffle(order.begin(), order.end(), rng());
        const int64_t t2 = std::max<int64_t>(1, slots / 3);
        std::vector<double> sub(t2 + 2);
        for (int64_t i = 0; i < t2; ++i) sub[i] = static_cast<double>(order[i]);
        sub[t2] = -1;
        sub[t2 + 1] = -7;
        std::swap(sub[0], sub[t2]);  // a padding slot first
        Tensor sub_slots(s, TSR_DTYPE_I64, {t2 + 2}, "slot_mapping (subset)");
        Tensor kb_t(s, act, {t2 + 2, l.heads, l.dim}, "key (subset)"),
            vb_t(s, act, {t2 + 2, l.heads, l.dim}, "value (subset)");
        const std::vector<double> kb = rounded(act, random_normal((t2 + 2) * row));
        const std::vector<double> vb = rounded(act, random_normal((t2 + 2) * row));
        sub_slots.upload(sub);
        kb_t.upload(kb);
        vb_t.upload(vb);
        tsr_kv_cache_write_params w2{sizeof(tsr_kv_cache_write_params),
                                     kb_t.view(),
                                     vb_t.view(),
                                     sub_slots.view(),
                                     cache.buffer.get(),
                                     layout,
                                     num_blocks};
        TSR_ASSERT_OK(api().ops->kv_cache_write(s.get(), &w2));
        // 3. Read every slot back (into fresh tensors, so stale inputs cannot pass).
        Tensor kr(s, act, {slots, l.heads, l.dim}, "key (read)"),
            vr(s, act, {slots, l.heads, l.dim}, "value (read)");
        r.key = kr.view();
        r.value = vr.view();
        TSR_ASSERT_OK(api().ops->kv_cache_read(s.get(), &r));
        s.sync();
        std::vector<double> ke = ka, ve = va;
        for (int64_t i = 0; i < t2 + 2; ++i) {
          if (sub[i] < 0) continue;
          const int64_t slot = static_cast<int64_t>(sub[i]);
          std::copy_n(kb.begin() + i * row, row, ke.begin() + slot * row);
          std::copy_n(vb.begin() + i * row, row, ve.begin() + slot * row);
        }
        // What the cache holds, converted back to the activation dtype.
        for (double& v : ke) v = round_to(act, round_to(cache_dt, v));
        for (double& v : ve) v = round_to(act, round_to(cache_dt, v));
        const std::vector<double> kg = kr.values(), vg = vr.values();
        if (cache_dt == TSR_DTYPE_F32 || cache_dt == act) {
          EXPECT_EQ(kg, ke) << "keys read back differ (written, unwritten or padding slots)";
          EXPECT_EQ(vg, ve) << "values read back differ";
        } else {
          EXPECT_TRUE(close(kg, ke, tolerance(cache_dt))) << "keys";
          EXPECT_TRUE(close(vg, ve, tolerance(cache_dt))) << "values";
        }
        cache.check_tail("cache");
        for (const Tensor* t : {&kr, &vr, &key, &value, &kb_t, &vb_t}) t->check_guards();
      }
    }
  }
  TSR_FINISH_CASES(skips);
}

TEST_F(KvCache, SlotOutOfRangeIsNotAWildWrite) {
  TSR_REQUIRE_OP(TSR_OP_KV_CACHE_WRITE);
  const tsr_dtype cache_dt = kv_dtypes().at(0);
  const tsr_dtype act = activation_dtypes().at(0);
  const tsr_kv_layout layout{sizeof(tsr_kv_layout), 2, 64, 16, cache_dt};
  const uint64_t block_bytes = block_bytes_for(layout);
  ASSERT_GT(block_bytes, 0u);
  Stream s;
  GuardedCache cache(s, block_bytes * 2);
  Tensor slots(s, TSR_DTYPE_I64, {2}, "slot_mapping");
  Tensor key(s, act, {2, 2, 64}, "key"), value(s, act, {2, 2, 64}, "value");
  slots.upload({0, 2 * 16 + 3});  // the second is past the last block
  tsr_kv_cache_write_params w{sizeof(tsr_kv_cache_write_params),
                              key.view(),
                              value.view(),
                              slots.view(),
                              cache.buffer.get(),
                              layout,
                              2};
  const Status st = take(api().ops->kv_cache_write(s.get(), &w));
  s.sync();
  if (!st.ok) {
    EXPECT_TRUE(failed_with(st, {TSR_ERROR_CODE_INVALID_ARGUMENT}));
  }
  cache.check_tail("cache");
}

// Pairs with distinct destinations that are never also sources.
void make_pairs(int64_t num_blocks, int64_t pairs, std::vector<int64_t>* src,
                std::vector<int64_t>* dst, bool same_buffer) {
  std::vector<int64_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng());
  src->clear();
  dst->clear();
  for (int64_t i = 0; i < pairs; ++i) {
    dst->push_back(ids[i]);
    src->push_back(same_buffer ? ids[pairs + random_int(0, num_blocks - pairs - 1)]
                               : random_int(0, num_blocks - 1));
  }
}

TEST_F(KvCache, CopyBlocks) {
  TSR_REQUIRE_OP(TSR_OP_COPY_BLOCKS);
  const tsr_kv_layout layout{sizeof(tsr_kv_layout), 3, 64, 16, kv_dtypes().at(0)};
  const uint64_t bb = block_bytes_for(layout);
  ASSERT_GT(bb, 0u);
  const int64_t num_blocks = 11;
  for (bool same_buffer : {true, false}) {
    for (int64_t pairs : {int64_t{1}, int64_t{4}}) {
      SCOPED_TRACE(std::string(same_buffer ? "within one buffer" : "between buffers") +
                   ", pairs=" + std::to_string(pairs));
      Stream s;
      GuardedCache a(s, bb * num_blocks), b(s, bb * num_blocks);
      const GuardedCache& dst = same_buffer ? a : b;
      std::vector<int64_t> src_ids, dst_ids;
      make_pairs(num_blocks, pairs, &src_ids, &dst_ids, same_buffer);
      const std::vector<uint8_t> before_src = a.bytes();
      std::vector<uint8_t> expect = dst.bytes();
      for (int64_t i = 0; i < pairs; ++i) {
        std::copy_n(before_src.begin() + src_ids[i] * bb, bb, expect.begin() + dst_ids[i] * bb);
      }
      tsr_copy_blocks_params p{sizeof(tsr_copy_blocks_params),
                               a.buffer.get(),
                               dst.buffer.get(),
                               bb,
                               src_ids.data(),
                               dst_ids.data(),
                               pairs};
      TSR_ASSERT_OK(api().ops->copy_blocks(s.get(), &p));
      s.sync();
      EXPECT_TRUE(dst.bytes() == expect)
          << "destination blocks must be byte copies, others untouched";
      if (!same_buffer) {
        EXPECT_TRUE(a.bytes() == before_src) << "source buffer changed";
      }
      a.check_tail("src");
      b.check_tail("dst");
    }
  }
}

TEST_F(KvCache, SwapBlocksOutAndIn) {
  TSR_REQUIRE_OP(TSR_OP_SWAP_BLOCKS);
  const tsr_kv_layout layout{sizeof(tsr_kv_layout), 2, 128, 16, kv_dtypes().at(0)};
  const uint64_t bb = block_bytes_for(layout);
  ASSERT_GT(bb, 0u);
  const int64_t device_blocks = 9, host_blocks = 6;
  for (tsr_swap_direction dir : {TSR_SWAP_DIRECTION_OUT, TSR_SWAP_DIRECTION_IN}) {
    SCOPED_TRACE(dir == TSR_SWAP_DIRECTION_OUT ? "out" : "in");
    Stream s;
    GuardedCache dev(s, bb * device_blocks);
    GuardedCache host(s, bb * host_blocks, TSR_BUFFER_KIND_HOST_PINNED);
    const bool out = dir == TSR_SWAP_DIRECTION_OUT;
    const GuardedCache& from = out ? dev : host;
    const GuardedCache& to = out ? host : dev;
    const int64_t from_blocks = out ? device_blocks : host_blocks;
    const int64_t to_blocks = out ? host_blocks : device_blocks;
    std::vector<int64_t> to_ids(to_blocks);
    std::iota(to_ids.begin(), to_ids.end(), 0);
    std::shuffle(to_ids.begin(), to_ids.end(), rng());
    const int64_t pairs = 3;
    to_ids.resize(pairs);
    std::vector<int64_t> from_ids;
    for (int64_t i = 0; i < pairs; ++i) from_ids.push_back(random_int(0, from_blocks - 1));
    const std::vector<uint8_t> src = from.bytes();
    std::vector<uint8_t> expect = to.bytes();
    for (int64_t i = 0; i < pairs; ++i) {
      std::copy_n(src.begin() + from_ids[i] * bb, bb, expect.begin() + to_ids[i] * bb);
    }
    tsr_swap_blocks_params p{sizeof(tsr_swap_blocks_params),
                             dev.buffer.get(),
                             host.buffer.get(),
                             dir,
                             bb,
                             from_ids.data(),
                             to_ids.data(),
                             pairs};
    TSR_ASSERT_OK(api().ops->swap_blocks(s.get(), &p));
    s.sync();
    EXPECT_TRUE(to.bytes() == expect) << "swapped blocks must be byte copies, others untouched";
    EXPECT_TRUE(from.bytes() == src) << "the source side changed";
    dev.check_tail("device buffer");
    host.check_tail("host buffer");
  }
}

TEST_F(KvCache, BlockIdsOutOfRangeAreRejected) {
  TSR_REQUIRE_OP(TSR_OP_COPY_BLOCKS);
  const tsr_kv_layout layout{sizeof(tsr_kv_layout), 1, 64, 16, kv_dtypes().at(0)};
  const uint64_t bb = block_bytes_for(layout);
  ASSERT_GT(bb, 0u);
  Stream s;
  GuardedCache a(s, bb * 4);
  const std::vector<int64_t> src = {0}, dst = {4};
  tsr_copy_blocks_params p{sizeof(tsr_copy_blocks_params),
                           a.buffer.get(),
                           a.buffer.get(),
                           bb,
                           src.data(),
                           dst.data(),
                           1};
  EXPECT_TRUE(
      failed_with(take(api().ops->copy_blocks(s.get(), &p)), {TSR_ERROR_CODE_INVALID_ARGUMENT}))
      << "destination block 4 of a 4-block buffer";
  s.sync();
  a.check_tail("cache");
}

}  // namespace
}  // namespace tsr::conformance
