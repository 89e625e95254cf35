// Paged attention over a flat mixed batch (prefill chunks and decode rows), causal, with
// GQA, sliding window and logit soft-capping. One work item is (a tile of up to 16 query
// tokens of one sequence, KV head): it walks that sequence's blocks once, converting each
// block's K/V rows of that head to f32 if needed, and keeps an online softmax (running max,
// running sum, f32 accumulator) for every query row — each token's query heads of the GQA
// group — so no score matrix is materialised. Tiles with few rows (decode) score key by key
// (attend); larger ones (prefill) transpose each chunk of 16 keys once and score every row
// against it with 16 keys per multiply-add (attend_tile), which reads each key once per tile
// instead of once per query token.
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

// The largest of s[0..n) (NaN-free scores; -inf for n = 0). Four running maxima in
// registers: a single one becomes a chain of dependent maxss through the stack.
float max_of(const float* s, int64_t n) {
  float m0 = -std::numeric_limits<float>::infinity(), m1 = m0, m2 = m0, m3 = m0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    m0 = s[i] > m0 ? s[i] : m0;
    m1 = s[i + 1] > m1 ? s[i + 1] : m1;
    m2 = s[i + 2] > m2 ? s[i + 2] : m2;
    m3 = s[i + 3] > m3 ? s[i + 3] : m3;
  }
  for (; i < n; ++i) m0 = s[i] > m0 ? s[i] : m0;
  m0 = m1 > m0 ? m1 : m0;
  m2 = m3 > m2 ? m3 : m2;
  return m2 > m0 ? m2 : m0;
}

// One query row's online softmax over `n` more keys: their scores s (soft-capped here when
// softcap > 0, then turned into weights), their value rows, the row's running max m, sum l
// and unnormalized output acc.
void online_softmax_step(const Kernels& k, float* s, int64_t n, const float* values, int64_t dim,
                         float softcap, float& m, float& l, float* acc) {
  if (softcap > 0.0f) {
    for (int64_t i = 0; i < n; ++i) s[i] = softcap * std::tanh(s[i] / softcap);
  }
  const float m_new = std::max(m, max_of(s, n));
  if (m != m_new && l > 0.0f) {
    float correction = std::exp(m - m_new);
    // A subnormal would make acc subnormal (kernels.h, exp_shifted_sum).
    if (correction < std::numeric_limits<float>::min()) correction = 0.0f;
    l *= correction;
    k.scale(correction, acc, dim);
  }
  m = m_new;
  l += k.exp_shifted_sum(s, n, m_new);
  k.weighted_rows(s, values, n, dim, acc);
}

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
      online_softmax_step(k, scores, n, values, dim, task.softcap, m[h], l[h], acc + h * dim);
    }
  }
  for (int64_t h = 0; h < group; ++h) {
    k.scale(l[h] > 0.0f ? 1.0f / l[h] : 0.0f, acc + h * dim, dim);
  }
}

// Query tokens per work item, and the rows (tokens x group heads) from which a tile
// transposes its key chunks: below that the transpose costs more than it saves.
constexpr int64_t kQueryTile = 16;
constexpr int64_t kMinTileRows = 16;
constexpr int64_t kKeyChunk = 16;  // keys per transposed chunk (Kernels::transposed_scores)

struct TileTask {
  HeadTask head;   // lo/hi unused: per token below
  int64_t pos0;    // position of the tile's first query token
  int64_t tokens;  // in the tile (consecutive positions)
  int64_t window;  // sliding window (0: none)
};

// Attention of `tokens` consecutive query tokens against one KV head: q holds their
// tokens x group query rows of dim floats (token-major), acc gets the same rows out.
void attend_tile(const TileTask& task, int64_t kv_head, const float* q, int64_t group, float* acc) {
  const Kernels& k = kernels();
  const HeadTask& head = task.head;
  const KvGeometry& g = *head.g;
  const int64_t dim = g.dim;
  const int64_t bs = g.block_size;
  const int64_t rows = task.tokens * group;
  float* state = scratch_f32(2, static_cast<size_t>(2 * rows));
  float* m = state;
  float* l = state + rows;
  float* scores = scratch_f32(5, static_cast<size_t>(rows * kKeyChunk));
  float* kt = scratch_f32(6, static_cast<size_t>(dim * kKeyChunk));
  std::fill(m, m + rows, -std::numeric_limits<float>::infinity());
  std::fill(l, l + rows, 0.0f);
  std::fill(acc, acc + rows * dim, 0.0f);
  auto lo_of = [&](int64_t pos) {
    return task.window > 0 ? std::max<int64_t>(0, pos - task.window + 1) : int64_t{0};
  };
  const int64_t lo_all = lo_of(task.pos0);
  const int64_t hi_all = task.pos0 + task.tokens - 1;
  for (int64_t first = lo_all; first <= hi_all;) {
    // A chunk of keys inside one block.
    const int64_t j = first / bs;
    const int64_t last = std::min({hi_all, j * bs + bs - 1, first + kKeyChunk - 1});
    const int64_t n = last - first + 1;
    const int64_t block = head.table[j];
    const int64_t offset = first - j * bs;
    const float* keys =
        as_f32(head.cache + g.key_offset(block, offset, kv_head), head.cache_dtype, n * dim, 3);
    const float* values =
        as_f32(head.cache + g.value_offset(block, offset, kv_head), head.cache_dtype, n * dim, 4);
    for (int64_t d = 0; d < dim; ++d) {
      for (int64_t i = 0; i < kKeyChunk; ++i) kt[d * kKeyChunk + i] = i < n ? keys[i * dim + d] : 0;
    }
    // Tokens before the chunk cannot see it (causal); score the rest in one call.
    int64_t t0 = 0;
    while (t0 < task.tokens && task.pos0 + t0 < first) ++t0;
    k.transposed_scores(q + t0 * group * dim, (task.tokens - t0) * group, dim, kt, head.scale,
                        scores + t0 * group * kKeyChunk);
    for (int64_t t = t0; t < task.tokens; ++t) {
      const int64_t pos = task.pos0 + t;
      // This token's keys in the chunk: [a, b] (causal, and its sliding window).
      const int64_t a = std::max<int64_t>(0, lo_of(pos) - first);
      const int64_t b = std::min<int64_t>(n - 1, pos - first);
      if (a > b) continue;
      for (int64_t h = 0; h < group; ++h) {
        const int64_t r = t * group + h;
        online_softmax_step(k, scores + r * kKeyChunk + a, b - a + 1, values + a * dim, dim,
                            head.softcap, m[r], l[r], acc + r * dim);
      }
    }
    first = last + 1;
  }
  for (int64_t r = 0; r < rows; ++r) {
    k.scale(l[r] > 0.0f ? 1.0f / l[r] : 0.0f, acc + r * dim, dim);
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

  // Work items: tiles of up to kQueryTile consecutive query tokens of one sequence, times the
  // KV heads. Grows once, then reused: no allocation per call.
  struct QueryTile {
    int32_t seq, first, tokens;
  };
  thread_local std::vector<QueryTile> tiles;
  tiles.clear();
  for (int64_t s = 0; s < batch.num_seqs; ++s) {
    for (int32_t t = batch.qsl[s]; t < batch.qsl[s + 1]; t += kQueryTile) {
      const int32_t count = std::min<int32_t>(kQueryTile, batch.qsl[s + 1] - t);
      tiles.push_back({static_cast<int32_t>(s), t, count});
    }
  }
  // A pointer, not the thread_local: inside the loop that name is each worker's own vector.
  const QueryTile* tile_list = tiles.data();
  const int64_t group = hq / hkv;
  const int64_t dim = g.dim;
  const auto* cache = static_cast<const unsigned char*>(prm.cache->data);
  const int64_t items = static_cast<int64_t>(tiles.size()) * hkv;
  parallel_for(
      items,
      [&](int64_t item) {
        const QueryTile& tile = tile_list[item / hkv];
        const int64_t kv_head = item % hkv;
        const int64_t s = tile.seq;
        const int64_t q_len = batch.qsl[s + 1] - batch.qsl[s];
        const int64_t pos0 = batch.seq_lens[s] - q_len + (tile.first - batch.qsl[s]);
        HeadTask task{&g,        prm.layout.dtype, cache, batch.tables + s * batch.max_blocks, 0, 0,
                      prm.scale, prm.logit_softcap};
        auto row_of = [&](int64_t t) {
          return static_cast<size_t>((t * hq + kv_head * group) * dim);
        };
        if (tile.tokens * group < kMinTileRows) {
          for (int64_t t = tile.first; t < tile.first + tile.tokens; ++t) {
            const int64_t pos = pos0 + (t - tile.first);
            task.lo =
                prm.sliding_window > 0 ? std::max<int64_t>(0, pos - prm.sliding_window + 1) : 0;
            task.hi = pos;
            const float* q =
                as_f32(query.data + row_of(t) * query.elem, query.dtype, group * dim, 0);
            float* acc = scratch_f32(1, static_cast<size_t>(group * dim));
            attend(task, kv_head, q, group, acc);
            store_f32(acc, out.dtype, out.data + row_of(t) * out.elem, group * dim);
          }
          return;
        }
        // The tile's query rows in f32, token-major and contiguous (slot 7), so one scoring
        // call per key chunk covers every row.
        float* q_rows = scratch_f32(7, static_cast<size_t>(tile.tokens * group * dim));
        for (int64_t t = 0; t < tile.tokens; ++t) {
          const unsigned char* src = query.data + row_of(tile.first + t) * query.elem;
          std::copy_n(as_f32(src, query.dtype, group * dim, 0), group * dim,
                      q_rows + t * group * dim);
        }
        float* acc = scratch_f32(1, static_cast<size_t>(tile.tokens * group * dim));
        attend_tile(TileTask{task, pos0, tile.tokens, prm.sliding_window}, kv_head, q_rows, group,
                    acc);
        for (int64_t t = 0; t < tile.tokens; ++t) {
          store_f32(acc + t * group * dim, out.dtype, out.data + row_of(tile.first + t) * out.elem,
                    group * dim);
        }
      },
      true, Schedule::kDynamic);
}

}  // namespace tsr::cpu::ops
