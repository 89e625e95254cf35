// The host half of the CUDA plugin's weight_prepack: descriptor validation, the device
// layout of a weight (cuda_weights.h describes it) and the re-layout of canonical rows into
// it. Nothing here touches the CUDA runtime, so the emulated kernel tests
// (tests/cuda_emulation) build their weights with exactly this code and run without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "linear_kernels.h"
#include "tessera/plugin.h"

namespace tsr::cuda {

// The formats weight_prepack takes (every one on every architecture; see weight_formats).
bool is_known_format(tsr_weight_format f);
// Formats with integer or fp8 codes and f32 scales (the rest are dense).
bool is_quantized(tsr_weight_format f);
// INT4_GROUP_ASYM / INT8_GROUP_ASYM: scales and mins per group.
bool is_asym(tsr_weight_format f);

// The dtype of a dense format's elements, and element i of such data as f32.
tsr_dtype dense_source_dtype(tsr_weight_format f);
float load_dense(const void* base, tsr_dtype type, size_t i);

// Throws INVALID_ARGUMENT naming the field unless `d` is a descriptor weight_prepack can
// take (for the asym formats: a descriptor of ABI 1.1 or later carrying `mins`).
void check_weight_desc(const tsr_weight_desc* d);

// Where a weight's pieces lie in its one device allocation, and how the kernels read it.
struct WeightLayout {
  WeightView view;           // data/scales/mins left null: they are set on the allocation
  size_t data_bytes = 0;     // n * ld
  size_t scales_offset = 0;  // 256-byte aligned, after the data
  size_t scales_bytes = 0;   // 0 for dense formats
  size_t mins_offset = 0;    // 256-byte aligned, after the scales (asym formats)
  size_t mins_bytes = 0;     // 0 unless asym
  size_t total_bytes = 0;
};

// The layout of a checked descriptor; `dense` is the storage dtype chosen for a dense
// format (ignored for quantized ones).
WeightLayout plan_weight_layout(const tsr_weight_desc& d, tsr_dtype dense);

// Writes rows [r0, r0 + count) of the device layout of `d` into `dst` (count * ld bytes).
void pack_weight_rows(const tsr_weight_desc& d, const WeightLayout& layout, tsr_dtype dense,
                      int64_t r0, int64_t count, unsigned char* dst);

// Points `view` at the pieces of an allocation of layout.total_bytes starting at `base`.
void bind_weight_view(const WeightLayout& layout, const unsigned char* base, WeightView* view);

}  // namespace tsr::cuda
