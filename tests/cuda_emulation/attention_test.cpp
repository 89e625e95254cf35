// Paged attention kernels (attention_prefill.cu, attention_decode.cu) run by the SIMT
// emulator against a float64 reference: mixed prefill/decode batches over shuffled block
// tables, GQA groups 1 to 8 (and a group split over two decode CTAs), head_dim 16 to 256,
// odd block sizes, sliding windows, soft-capping, split-KV decode with empty splits, a block
// id outside the cache (contributes nothing), and f32/f16/bf16 caches and activations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "attention.h"
#include "emulation_util.h"

namespace tsr::test {
namespace {

struct Case {
  int hq, hkv, dim, block_size;
  std::vector<std::pair<int, int>> seqs;  // (query rows, context length incl. them)
  int window = 0;
  float cap = 0.0f;
  int splits = 1;
  tsr_dtype kv = TSR_DTYPE_F32;
  tsr_dtype act = TSR_DTYPE_F32;
  bool bad_block = false;  // the last sequence's first block id is out of range
};

enum class Kernel { kPrefill, kDecode };

void run_case(const Case& c, Kernel kernel, uint32_t seed) {
  SCOPED_TRACE(::testing::Message()
               << "hq " << c.hq << " hkv " << c.hkv << " dim " << c.dim << " bs " << c.block_size
               << " window " << c.window << " cap " << c.cap << " splits " << c.splits << " kv "
               << dtype_name(c.kv) << " act " << dtype_name(c.act));
  std::mt19937 rng(seed);
  const int num_seqs = static_cast<int>(c.seqs.size());
  std::vector<int32_t> qsl{0}, lens;
  int max_blocks = 0, total_blocks = 0;
  for (const auto& [q, ctx] : c.seqs) {
    qsl.push_back(qsl.back() + q);
    lens.push_back(ctx);
    const int nb = (ctx + c.block_size - 1) / c.block_size;
    max_blocks = std::max(max_blocks, nb);
    total_blocks += nb;
  }
  max_blocks += 1;  // a spare column: the kernels must not read past a sequence's blocks
  const int tokens = qsl.back();
  const int64_t num_blocks = total_blocks + 3;
  const int64_t block_elems = 2LL * c.hkv * c.block_size * c.dim;
  const Buffer cache = random_buffer(c.kv, static_cast<size_t>(num_blocks * block_elems), rng);
  std::vector<int32_t> pool(static_cast<size_t>(num_blocks));
  for (int i = 0; i < num_blocks; ++i) pool[static_cast<size_t>(i)] = i;
  std::shuffle(pool.begin(), pool.end(), rng);
  std::vector<int32_t> table(static_cast<size_t>(num_seqs * max_blocks), 0);
  int next = 0;
  for (int b = 0; b < num_seqs; ++b) {
    for (int i = 0; i < (lens[b] + c.block_size - 1) / c.block_size; ++i) {
      table[static_cast<size_t>(b * max_blocks + i)] = pool[static_cast<size_t>(next++)];
    }
  }
  if (c.bad_block) table[static_cast<size_t>((num_seqs - 1) * max_blocks)] = 1 << 20;
  const Buffer query = random_buffer(c.act, static_cast<size_t>(tokens) * c.hq * c.dim, rng);
  Buffer out(c.act, query.size());
  for (size_t i = 0; i < out.size(); ++i) out.set(i, 12345.0f);

  cuda::PagedAttentionArgs a{};
  a.query = query.data();
  a.out = out.data();
  a.act_dtype = c.act;
  a.cache = cache.data();
  a.kv_dtype = c.kv;
  a.num_blocks = num_blocks;
  a.query_start_loc = qsl.data();
  a.seq_lens = lens.data();
  a.block_tables = table.data();
  a.max_blocks_per_seq = max_blocks;
  a.num_seqs = num_seqs;
  a.tokens = tokens;
  a.num_query_heads = c.hq;
  a.num_kv_heads = c.hkv;
  a.head_dim = c.dim;
  a.block_size = c.block_size;
  a.scale = 1.0f / std::sqrt(static_cast<float>(c.dim));
  a.sliding_window = c.window;
  a.logit_softcap = c.cap;
  // NaN-filled: a split that skipped writing its partial would poison the output.
  std::vector<float> workspace(
      cuda::attention_decode_workspace_bytes(tokens, c.hq, c.splits, c.dim) / 4 + 1, NAN);
  const cudaError_t rc =
      kernel == Kernel::kDecode
          ? cuda::launch_paged_attention_decode(a, c.splits, workspace.data(), nullptr)
          : cuda::launch_paged_attention_prefill(a, nullptr);
  ASSERT_EQ(rc, cudaSuccess);
  expect_clean_emulation();

  const int group = c.hq / c.hkv;
  const double tol_rel = c.act == TSR_DTYPE_F32 ? 0.0 : (c.act == TSR_DTYPE_F16 ? 1e-3 : 8e-3);
  int bad = 0;
  for (int b = 0; b < num_seqs; ++b) {
    for (int t = qsl[b]; t < qsl[b + 1]; ++t) {
      for (int h = 0; h < c.hq; ++h) {
        const int kvh = h / group;
        const int64_t pos = lens[b] - (qsl[b + 1] - qsl[b]) + (t - qsl[b]);
        const int64_t lo = c.window > 0 ? std::max<int64_t>(0, pos - c.window + 1) : 0;
        std::vector<double> s;
        std::vector<int64_t> base;
        double m = -INFINITY;
        for (int64_t p = lo; p <= pos; ++p) {
          const int32_t blk = table[static_cast<size_t>(b * max_blocks + p / c.block_size)];
          if (blk < 0 || blk >= num_blocks) continue;
          const int64_t k0 = blk * block_elems +
                             (static_cast<int64_t>(kvh) * c.block_size + p % c.block_size) * c.dim;
          double d = 0;
          for (int e = 0; e < c.dim; ++e) {
            d += static_cast<double>(query.get(
                     static_cast<size_t>((static_cast<int64_t>(t) * c.hq + h) * c.dim + e))) *
                 cache.get(static_cast<size_t>(k0 + e));
          }
          d *= a.scale;
          if (c.cap > 0) d = c.cap * std::tanh(d / c.cap);
          s.push_back(d);
          base.push_back(k0 + block_elems / 2);
          m = std::max(m, d);
        }
        std::vector<double> o(static_cast<size_t>(c.dim), 0.0);
        double l = 0;
        for (size_t j = 0; j < s.size(); ++j) {
          const double w = std::exp(s[j] - m);
          l += w;
          for (int e = 0; e < c.dim; ++e) {
            o[static_cast<size_t>(e)] += w * cache.get(static_cast<size_t>(base[j] + e));
          }
        }
        for (int e = 0; e < c.dim; ++e) {
          const double want = l > 0 ? o[static_cast<size_t>(e)] / l : 0.0;
          const double got =
              out.get(static_cast<size_t>((static_cast<int64_t>(t) * c.hq + h) * c.dim + e));
          if (!(std::fabs(want - got) <= 1e-4 + tol_rel * std::fabs(want)) && bad++ < 5) {
            ADD_FAILURE() << "row " << t << " head " << h << " dim " << e << ": want " << want
                          << " got " << got;
          }
        }
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

const std::vector<Case>& prefill_cases() {
  static const std::vector<Case> cases = {
      {1, 1, 64, 16, {{1, 1}}},
      {4, 1, 16, 16, {{1, 17}, {33, 33}, {1, 100}}},                             // GQA 4
      {8, 1, 128, 7, {{5, 40}, {1, 16}, {70, 71}}},                              // GQA 8, odd bs
      {2, 2, 64, 33, {{70, 75}, {0, 4}, {12, 12}}, 16},                          // window
      {4, 2, 16, 3, {{7, 7}, {1, 37}}, 0, 5.0f},                                 // softcap
      {2, 1, 80, 5, {{3, 9}, {2, 2}}, 0, 0.0f, 1, TSR_DTYPE_BF16},               // dim < tile
      {4, 4, 128, 16, {{65, 70}}, 20, 0.0f, 1, TSR_DTYPE_BF16, TSR_DTYPE_BF16},  // bf16 act
      {2, 1, 256, 4, {{3, 12}}, 0, 2.0f, 1, TSR_DTYPE_F16, TSR_DTYPE_F16},
      {2, 1, 64, 5, {{4, 9}, {3, 20}}, 0, 0.0f, 1, TSR_DTYPE_F32, TSR_DTYPE_F32, true},
  };
  return cases;
}

const std::vector<Case>& decode_cases() {
  static const std::vector<Case> cases = {
      {8, 1, 128, 16, {{1, 100}, {1, 1}, {1, 51}}, 0, 0.0f, 4},               // GQA 8
      {8, 2, 64, 5, {{1, 77}, {1, 40}, {1, 3}}, 0, 0.0f, 7, TSR_DTYPE_BF16},  // GQA 4
      {4, 4, 16, 16, {{1, 200}}, 48, 0.0f, 32},              // window, empty splits
      {6, 3, 80, 7, {{2, 20}, {1, 9}, {0, 5}}, 0, 3.0f, 3},  // rows of a prefill batch
      {3, 3, 256, 4, {{1, 30}, {1, 1}}, 0, 0.0f, 1, TSR_DTYPE_F16},
      {12, 1, 16, 1, {{1, 13}}, 5, 0.0f, 5, TSR_DTYPE_BF16, TSR_DTYPE_BF16},  // two CTAs/group
      {2, 1, 64, 5, {{1, 9}, {1, 20}}, 0, 0.0f, 2, TSR_DTYPE_F32, TSR_DTYPE_F32, true},
  };
  return cases;
}

TEST(EmulatedAttention, PrefillMatchesFloat64Reference) {
  uint32_t seed = 1;
  for (const Case& c : prefill_cases()) run_case(c, Kernel::kPrefill, seed++);
}

TEST(EmulatedAttention, DecodeMatchesFloat64Reference) {
  uint32_t seed = 100;
  for (const Case& c : decode_cases()) run_case(c, Kernel::kDecode, seed++);
}

// The prefill kernel serves any batch, decode batches included.
TEST(EmulatedAttention, PrefillKernelOnDecodeBatches) {
  uint32_t seed = 200;
  for (const Case& c : decode_cases()) run_case(c, Kernel::kPrefill, seed++);
}

// Threads run in the opposite order: a missing barrier between a shared-memory write and a
// read by a lower-numbered thread shows up in one of the two orders.
TEST(EmulatedAttention, ReversedScheduleGivesTheSameResults) {
  tsr::emu::set_schedule_reversed(true);
  run_case(prefill_cases()[2], Kernel::kPrefill, 300);
  run_case(decode_cases()[0], Kernel::kDecode, 301);
  tsr::emu::set_schedule_reversed(false);
}

TEST(EmulatedAttention, RejectsUnsupportedHeadDim) {
  cuda::PagedAttentionArgs a{};
  a.head_dim = 12;
  a.num_seqs = 1;
  a.tokens = 1;
  a.num_query_heads = 1;
  a.num_kv_heads = 1;
  EXPECT_EQ(cuda::launch_paged_attention_prefill(a, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(cuda::launch_paged_attention_decode(a, 1, nullptr, nullptr), cudaErrorInvalidValue);
}

}  // namespace
}  // namespace tsr::test
