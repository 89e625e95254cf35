// The CPU plugin's KV block layout, shared by the KV ops and paged attention.
// One block (kv_block_bytes) = K [num_kv_heads][block_size][head_dim] followed by
// V [num_kv_heads][block_size][head_dim], elements of layout.dtype. A head's keys within a
// block are contiguous, so attention reads block_size * head_dim elements per head at once.
#ifndef TESSERA_PLUGINS_CPU_KV_LAYOUT_H
#define TESSERA_PLUGINS_CPU_KV_LAYOUT_H

#include <cstddef>
#include <cstdint>

#include "tessera/plugin.hpp"

namespace tsr::cpu {

struct KvGeometry {
  int64_t heads = 0;
  int64_t dim = 0;
  int64_t block_size = 0;
  size_t elem = 0;
  size_t block_bytes = 0;
  size_t half_bytes = 0;  // bytes of the K (or V) half of a block

  explicit KvGeometry(const tsr_kv_layout& layout)
      : heads(layout.num_kv_heads),
        dim(layout.head_dim),
        block_size(layout.block_size),
        elem(tsr::sdk::dtype_size(layout.dtype)) {
    half_bytes = static_cast<size_t>(heads * block_size * dim) * elem;
    block_bytes = 2 * half_bytes;
  }

  // Byte offset of the key row of (block, offset-in-block, head) in the layer buffer.
  size_t key_offset(int64_t block, int64_t offset, int64_t head) const {
    return static_cast<size_t>(block) * block_bytes +
           static_cast<size_t>((head * block_size + offset) * dim) * elem;
  }
  size_t value_offset(int64_t block, int64_t offset, int64_t head) const {
    return key_offset(block, offset, head) + half_bytes;
  }
};

}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_KV_LAYOUT_H
