// KV cache ops on this plugin's block layout (kv_layout.h): kv_block_bytes,
// kv_cache_write/read, copy_blocks (copy-on-write within a layer) and swap_blocks
// (device <-> host swap space; both are host memory here, so swapping is a copy).
// Every slot and block id is checked before any byte moves.
#include <algorithm>
#include <cstring>
#include <vector>

#include "api_functions.h"
#include "convert.h"
#include "cpu_internal.h"
#include "kv_layout.h"
#include "ops.h"
#include "parallel.h"
#include "op_checks.h"
#include "tensor_check.h"

namespace tsr::cpu {
namespace {

// Moves one row of `n` elements between dtypes (memcpy when they match).
void move_row(const unsigned char* src, tsr_dtype src_dtype, unsigned char* dst,
              tsr_dtype dst_dtype, int64_t n) {
  if (src_dtype == dst_dtype) {
    std::memcpy(dst, src, static_cast<size_t>(n) * tsr::sdk::dtype_size(src_dtype));
    return;
  }
  float* tmp = scratch_f32(0, static_cast<size_t>(n));
  load_f32(src, src_dtype, tmp, n);
  store_f32(tmp, dst_dtype, dst, n);
}

void check_slots(const int64_t* slots, int64_t count, int64_t limit, bool allow_negative,
                 const char* op) {
  for (int64_t i = 0; i < count; ++i) {
    const int64_t s = slots[i];
    TSR_PLUGIN_CHECK_ARG((allow_negative && s < 0) || (s >= 0 && s < limit),
                         "%s: slot_mapping[%lld] = %lld is not %s[0, %lld)", op,
                         static_cast<long long>(i), static_cast<long long>(s),
                         allow_negative ? "negative or in " : "in ", static_cast<long long>(limit));
  }
}

// Checks ids against a buffer of whole blocks; returns the number of blocks it holds.
void check_block_ids(const int64_t* ids, int64_t count, const tsr_buffer_s* buffer,
                     size_t block_bytes, const char* op, const char* field) {
  TSR_PLUGIN_CHECK_ARG(ids != nullptr || count == 0, "%s: %s is NULL", op, field);
  const uint64_t blocks = buffer->bytes / block_bytes;
  for (int64_t i = 0; i < count; ++i) {
    TSR_PLUGIN_CHECK_ARG(ids[i] >= 0 && static_cast<uint64_t>(ids[i]) < blocks,
                         "%s: %s[%lld] = %lld is not a block of the buffer (it holds %llu)", op,
                         field, static_cast<long long>(i), static_cast<long long>(ids[i]),
                         static_cast<unsigned long long>(blocks));
  }
}

void check_unique(const int64_t* ids, int64_t count, const char* op, const char* field) {
  std::vector<int64_t> sorted(ids, ids + count);
  std::sort(sorted.begin(), sorted.end());
  const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  TSR_PLUGIN_CHECK_ARG(dup == sorted.end(), "%s: %s names block %lld twice", op, field,
                       dup == sorted.end() ? 0LL : static_cast<long long>(*dup));
}

void copy_block_pairs(unsigned char* dst, const unsigned char* src, size_t block_bytes,
                      const int64_t* src_ids, const int64_t* dst_ids, int64_t count,
                      bool parallel) {
  parallel_for(
      count,
      [&](int64_t i) {
        unsigned char* d = dst + static_cast<size_t>(dst_ids[i]) * block_bytes;
        const unsigned char* s = src + static_cast<size_t>(src_ids[i]) * block_bytes;
        if (d != s) std::memmove(d, s, block_bytes);
      },
      parallel);
}

}  // namespace

namespace api {
tsr_error* kv_block_bytes(tsr_device_t device, const tsr_kv_layout* layout, uint64_t* bytes) {
  return tsr::sdk::guard([&] {
    check_device(device, "kv_block_bytes");
    TSR_PLUGIN_CHECK_ARG(layout != nullptr && bytes != nullptr,
                         "kv_block_bytes: layout and bytes must not be NULL");
    *bytes = check_kv_cache(*layout, nullptr, 0, "kv_block_bytes");
  });
}
}  // namespace api

namespace ops {

void kv_cache_write(const tsr_kv_cache_write_params* p, bool execute) {
  constexpr const char* op = "kv_cache_write";
  const auto& prm = params(p, op);
  const KvCacheViews t = check_kv_cache_io(prm.layout, prm.cache, prm.num_blocks, prm.key,
                                           prm.value, prm.slot_mapping, false, op);
  const KvGeometry g(prm.layout);
  const int64_t limit = prm.num_blocks * g.block_size;
  const int64_t* slots = t.slot_mapping.as<int64_t>();
  check_slots(slots, t.slot_mapping.numel, limit, true, op);
  if (!execute) return;
  auto* cache = static_cast<unsigned char*>(prm.cache->data);
  const int64_t tokens = t.key.dim(0);
  const size_t row = static_cast<size_t>(g.dim) * t.key.elem;
  parallel_for(
      tokens,
      [&](int64_t i) {
        const int64_t slot = slots[i];
        if (slot < 0) return;
        const int64_t block = slot / g.block_size;
        const int64_t offset = slot % g.block_size;
        for (int64_t h = 0; h < g.heads; ++h) {
          const size_t src = static_cast<size_t>(i * g.heads + h) * row;
          move_row(t.key.data + src, t.key.dtype, cache + g.key_offset(block, offset, h),
                   prm.layout.dtype, g.dim);
          move_row(t.value.data + src, t.value.dtype, cache + g.value_offset(block, offset, h),
                   prm.layout.dtype, g.dim);
        }
      },
      t.key.numel > kParallelGrain);
}

void kv_cache_read(const tsr_kv_cache_read_params* p, bool execute) {
  constexpr const char* op = "kv_cache_read";
  const auto& prm = params(p, op);
  const KvCacheViews t = check_kv_cache_io(prm.layout, prm.cache, prm.num_blocks, prm.key,
                                           prm.value, prm.slot_mapping, true, op);
  const KvGeometry g(prm.layout);
  const int64_t* slots = t.slot_mapping.as<int64_t>();
  check_slots(slots, t.slot_mapping.numel, prm.num_blocks * g.block_size, false, op);
  if (!execute) return;
  const auto* cache = static_cast<const unsigned char*>(prm.cache->data);
  const int64_t tokens = t.key.dim(0);
  const size_t row = static_cast<size_t>(g.dim) * t.key.elem;
  parallel_for(
      tokens,
      [&](int64_t i) {
        const int64_t block = slots[i] / g.block_size;
        const int64_t offset = slots[i] % g.block_size;
        for (int64_t h = 0; h < g.heads; ++h) {
          const size_t dst = static_cast<size_t>(i * g.heads + h) * row;
          move_row(cache + g.key_offset(block, offset, h), prm.layout.dtype, t.key.data + dst,
                   t.key.dtype, g.dim);
          move_row(cache + g.value_offset(block, offset, h), prm.layout.dtype, t.value.data + dst,
                   t.value.dtype, g.dim);
        }
      },
      t.key.numel > kParallelGrain);
}

void copy_blocks(const tsr_copy_blocks_params* p, bool execute) {
  constexpr const char* op = "copy_blocks";
  const auto& prm = params(p, op);
  tsr_buffer_s* src = check_buffer(prm.src, "copy_blocks: src");
  tsr_buffer_s* dst = check_buffer(prm.dst, "copy_blocks: dst");
  TSR_PLUGIN_CHECK_ARG(prm.block_bytes > 0, "%s: block_bytes must be positive", op);
  TSR_PLUGIN_CHECK_ARG(prm.num_pairs >= 0, "%s: num_pairs must be >= 0", op);
  check_block_ids(prm.src_ids, prm.num_pairs, src, prm.block_bytes, op, "src_ids");
  check_block_ids(prm.dst_ids, prm.num_pairs, dst, prm.block_bytes, op, "dst_ids");
  check_unique(prm.dst_ids, prm.num_pairs, op, "dst_ids");
  if (!execute || prm.num_pairs == 0) return;
  // Within one buffer a pair may read a block another pair writes; then the pairs run in
  // order, as "for each i" says, instead of racing.
  bool parallel = src != dst;
  if (!parallel) {
    std::vector<int64_t> written(prm.dst_ids, prm.dst_ids + prm.num_pairs);
    std::sort(written.begin(), written.end());
    parallel = true;
    for (int64_t i = 0; i < prm.num_pairs && parallel; ++i) {
      parallel = prm.src_ids[i] == prm.dst_ids[i] ||
                 !std::binary_search(written.begin(), written.end(), prm.src_ids[i]);
    }
  }
  copy_block_pairs(static_cast<unsigned char*>(dst->data),
                   static_cast<const unsigned char*>(src->data), prm.block_bytes, prm.src_ids,
                   prm.dst_ids, prm.num_pairs, parallel);
}

void swap_blocks(const tsr_swap_blocks_params* p, bool execute) {
  constexpr const char* op = "swap_blocks";
  const auto& prm = params(p, op);
  tsr_buffer_s* device = check_buffer(prm.device_buffer, "swap_blocks: device_buffer");
  tsr_buffer_s* host = check_buffer(prm.host_buffer, "swap_blocks: host_buffer");
  TSR_PLUGIN_CHECK_ARG(host->kind == TSR_BUFFER_KIND_HOST_PINNED,
                       "%s: host_buffer must be a HOST_PINNED buffer", op);
  TSR_PLUGIN_CHECK_ARG(device != host, "%s: device_buffer and host_buffer are the same", op);
  TSR_PLUGIN_CHECK_ARG(
      prm.direction == TSR_SWAP_DIRECTION_OUT || prm.direction == TSR_SWAP_DIRECTION_IN,
      "%s: direction %d is not a tsr_swap_direction", op, static_cast<int>(prm.direction));
  TSR_PLUGIN_CHECK_ARG(prm.block_bytes > 0, "%s: block_bytes must be positive", op);
  TSR_PLUGIN_CHECK_ARG(prm.num_pairs >= 0, "%s: num_pairs must be >= 0", op);
  const bool out = prm.direction == TSR_SWAP_DIRECTION_OUT;
  tsr_buffer_s* src = out ? device : host;
  tsr_buffer_s* dst = out ? host : device;
  check_block_ids(prm.src_ids, prm.num_pairs, src, prm.block_bytes, op, "src_ids");
  check_block_ids(prm.dst_ids, prm.num_pairs, dst, prm.block_bytes, op, "dst_ids");
  check_unique(prm.dst_ids, prm.num_pairs, op, "dst_ids");
  if (!execute || prm.num_pairs == 0) return;
  copy_block_pairs(static_cast<unsigned char*>(dst->data),
                   static_cast<const unsigned char*>(src->data), prm.block_bytes, prm.src_ids,
                   prm.dst_ids, prm.num_pairs, true);
}

}  // namespace ops
}  // namespace tsr::cpu
