// Paged attention over a flat mixed batch (prefill chunks and decode rows), causal, with
// GQA, sliding window and logit soft-capping. One work item is (a tile of up to 16 query
// tokens of one sequence, KV head): it walks that sequence's blocks once, converting each
// block's K/V rows of that head to f32 if needed, and keeps an online softmax (running max,
// running sum, f32 accumulator) for every query row — each token's query heads of the GQA
// group — so no score matrix is materialised. Tiles with few rows (decode) score key by key
// (attend: every score of the range, one softmax, then the values: two passes over K and V
// rather than an online softmax per block); larger ones (prefill) transpose each chunk of 16
// keys once and score every row against it with 16 keys per multiply-add (attend_tile), which
// reads each key once per tile instead of once per query token. A decode batch with fewer
// (token, KV head) items than twice the threads (batch 1: one item per KV head, 3 for
// SmolLM2 on 2 threads, so one thread did two and the other one) cuts each context into
// chunks, one item each, and merges the chunks' partial softmaxes (flash-decoding).
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

// Attention of `group` query heads (rows q, each g->dim floats) against one KV head over
// positions [task.lo, task.hi], left unnormalized: acc gets each row's sum of exp(s - m) v,
// m and l its running max and sum of weights (-inf and 0 for an empty range).
void attend_range(const HeadTask& task, int64_t kv_head, const float* q, int64_t group, float* acc,
                  float* m, float* l) {
  const Kernels& k = kernels();
  const KvGeometry& g = *task.g;
  const int64_t dim = g.dim;
  const int64_t bs = g.block_size;
  for (int64_t h = 0; h < group; ++h) {
    m[h] = -std::numeric_limits<float>::infinity();
    l[h] = 0.0f;
  }
  std::fill(acc, acc + group * dim, 0.0f);
  if (task.hi < task.lo) return;
  // Two passes over the range, not an online softmax per block: every score first (row h's
  // at scores + h * n), one max and one exp pass per row, then the weighted values. Per
  // block that is two kernel calls per row instead of five, and no rescaling of acc.
  const int64_t n = task.hi - task.lo + 1;
  float* scores = scratch_f32(5, static_cast<size_t>(group * n));
  auto for_each_run = [&](auto&& body) {  // the range's runs of positions inside one block
    for (int64_t j = task.lo / bs; j <= task.hi / bs; ++j) {
      const int64_t first = std::max(task.lo, j * bs);
      const int64_t last = std::min(task.hi, j * bs + bs - 1);
      body(task.table[j], first - j * bs, first - task.lo, last - first + 1);
    }
  };
  for_each_run([&](int64_t block, int64_t offset, int64_t at, int64_t count) {
    const float* keys =
        as_f32(task.cache + g.key_offset(block, offset, kv_head), task.cache_dtype, count * dim, 3);
    for (int64_t h = 0; h < group; ++h) {
      k.scaled_dots(q + h * dim, keys, count, dim, task.scale, scores + h * n + at);
    }
  });
  for (int64_t h = 0; h < group; ++h) {
    float* s = scores + h * n;
    if (task.softcap > 0.0f) {
      for (int64_t i = 0; i < n; ++i) s[i] = task.softcap * std::tanh(s[i] / task.softcap);
    }
    m[h] = max_of(s, n);
    l[h] = k.exp_shifted_sum(s, n, m[h]);
  }
  for_each_run([&](int64_t block, int64_t offset, int64_t at, int64_t count) {
    const float* values = as_f32(task.cache + g.value_offset(block, offset, kv_head),
                                 task.cache_dtype, count * dim, 4);
    for (int64_t h = 0; h < group; ++h) {
      k.weighted_rows(scores + h * n + at, values, count, dim, acc + h * dim);
    }
  });
}

// attend_range over the task's whole range, normalized.
void attend(const HeadTask& task, int64_t kv_head, const float* q, int64_t group, float* acc) {
  const Kernels& k = kernels();
  const int64_t dim = task.g->dim;
  float* state = scratch_f32(2, static_cast<size_t>(2 * group));
  attend_range(task, kv_head, q, group, acc, state, state + group);
  const float* l = state + group;
  for (int64_t h = 0; h < group; ++h) {
    k.scale(l[h] > 0.0f ? 1.0f / l[h] : 0.0f, acc + h * dim, dim);
  }
}

// Decode with few work items (batch 1: one per KV head, fewer than the threads can share
// evenly) splits each token's context into chunks of at least kMinSplitKeys positions, one
// work item each (flash-decoding); merge_splits then combines the chunks' (m, l, acc).
constexpr int64_t kMinSplitKeys = 64;

// The chunk `c` of `splits` of [lo, hi]: equal lengths, the empty range (hi < lo) past the end.
void chunk_of(int64_t lo, int64_t hi, int64_t c, int64_t splits, int64_t& first, int64_t& last) {
  const int64_t n = hi - lo + 1;
  const int64_t per = std::max(kMinSplitKeys, (n + splits - 1) / splits);
  first = lo + c * per;
  last = std::min(hi, first + per - 1);
}

// Combines `splits` unnormalized partial results for `rows` query rows (chunk c's acc
// [rows][dim] at acc + c * rows * dim, its m and l [rows] at m + c * rows, l + c * rows) into
// out [rows][dim]: with M = max_c m_c, out = sum_c exp(m_c - M) acc_c / sum_c exp(m_c - M) l_c.
void merge_splits(const float* acc, const float* m, const float* l, int64_t splits, int64_t rows,
                  int64_t dim, float* out) {
  const Kernels& k = kernels();
  for (int64_t r = 0; r < rows; ++r) {
    float big = -std::numeric_limits<float>::infinity();
    for (int64_t c = 0; c < splits; ++c) {
      if (l[c * rows + r] > 0.0f) big = std::max(big, m[c * rows + r]);
    }
    float* o = out + r * dim;
    std::fill(o, o + dim, 0.0f);
    float total = 0.0f;
    for (int64_t c = 0; c < splits; ++c) {
      const float lc = l[c * rows + r];
      if (!(lc > 0.0f)) continue;  // an empty chunk
      float w = std::exp(m[c * rows + r] - big);
      if (w < std::numeric_limits<float>::min()) w = 0.0f;  // as online_softmax_step
      total += w * lc;
      const float* a = acc + (c * rows + r) * dim;
      for (int64_t d = 0; d < dim; ++d) o[d] += w * a[d];
    }
    k.scale(total > 0.0f ? 1.0f / total : 0.0f, o, dim);
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

// Up to kQueryTile consecutive query tokens of one sequence (from token `first`).
struct QueryTile {
  int32_t seq, first, tokens;
};

// How many chunks each token's context is cut into (1: none): only when every tile is one
// decode token scored key by key (attend) and the (token, KV head) items are fewer than twice
// the threads, so that some would idle; as many as give each thread two items, with chunks of
// at least kMinSplitKeys positions.
int64_t decode_splits(const Batch& batch, const QueryTile* tiles, int64_t num_tiles, int64_t hkv,
                      int64_t group, int32_t sliding_window) {
  const int64_t threads = configured_threads();
  const int64_t items = num_tiles * hkv;
  if (threads < 2 || items == 0 || items >= 2 * threads || group >= kMinTileRows) return 1;
  int64_t longest = 0;
  for (int64_t i = 0; i < num_tiles; ++i) {
    if (tiles[i].tokens != 1) return 1;
    int64_t keys = batch.seq_lens[tiles[i].seq];
    if (sliding_window > 0) keys = std::min<int64_t>(keys, sliding_window);
    longest = std::max(longest, keys);
  }
  const int64_t wanted = (2 * threads + items - 1) / items;
  return std::max<int64_t>(1, std::min(wanted, longest / kMinSplitKeys));
}

// Decode attention with each token's context in `splits` chunks: one work item per (token,
// KV head, chunk) leaves its unnormalized partial result in a buffer of the calling thread;
// the caller then merges each (token, KV head)'s chunks (few: items < 2 x threads) into out.
void split_decode(const tsr_paged_attention_params& prm, const Batch& batch, const KvGeometry& g,
                  const View& query, const View& out, const QueryTile* tiles, int64_t items,
                  int64_t hkv, int64_t group, int64_t splits) {
  const int64_t dim = g.dim;
  const int64_t hq = hkv * group;
  const int64_t rows = group;
  // Per (token, KV head): acc [splits][rows][dim], then m [splits][rows], then l [splits][rows].
  const size_t per_item = static_cast<size_t>(splits * rows * (dim + 2));
  thread_local std::vector<float> partials;
  if (partials.size() < per_item * static_cast<size_t>(items)) {
    partials.resize(per_item * static_cast<size_t>(items));
  }
  float* parts = partials.data();
  const auto* cache = static_cast<const unsigned char*>(prm.cache->data);
  auto row_of = [&](int64_t t, int64_t kv_head) {
    return static_cast<size_t>((t * hq + kv_head * group) * dim);
  };
  parallel_for(
      items * splits,
      [&](int64_t item) {
        const int64_t c = item % splits;
        const int64_t pair = item / splits;
        const QueryTile& tile = tiles[pair / hkv];
        const int64_t kv_head = pair % hkv;
        const int64_t pos = batch.seq_lens[tile.seq] - 1;
        const int64_t lo =
            prm.sliding_window > 0 ? std::max<int64_t>(0, pos - prm.sliding_window + 1) : 0;
        HeadTask task{
            &g,        prm.layout.dtype, cache, batch.tables + tile.seq * batch.max_blocks, 0, 0,
            prm.scale, prm.logit_softcap};
        chunk_of(lo, pos, c, splits, task.lo, task.hi);
        const float* q = as_f32(query.data + row_of(tile.first, kv_head) * query.elem, query.dtype,
                                rows * dim, 0);
        float* block = parts + per_item * static_cast<size_t>(pair);
        float* acc = block + c * rows * dim;
        float* m = block + splits * rows * dim + c * rows;
        float* l = m + splits * rows;
        attend_range(task, kv_head, q, group, acc, m, l);
      },
      true, Schedule::kDynamic);
  float* merged = scratch_f32(1, static_cast<size_t>(rows * dim));
  for (int64_t pair = 0; pair < items; ++pair) {
    const float* block = parts + per_item * static_cast<size_t>(pair);
    const float* m = block + splits * rows * dim;
    merge_splits(block, m, m + splits * rows, splits, rows, dim, merged);
    const int64_t t = tiles[pair / hkv].first;
    store_f32(merged, out.dtype, out.data + row_of(t, pair % hkv) * out.elem, rows * dim);
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
  const int64_t splits = decode_splits(batch, tile_list, static_cast<int64_t>(tiles.size()), hkv,
                                       group, prm.sliding_window);
  if (splits > 1) {
    split_decode(prm, batch, g, query, out, tile_list, items, hkv, group, splits);
    return;
  }
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
