// The prepacked weight behind tsr_weight_t on the CUDA plugin.
//
// Device layouts (one cudaMalloc per weight: row data, then f32 scales and mins at 256-byte
// aligned offsets), rows = output features N, row-major like the canonical formats, because
// both the GEMV (one warp streams whole rows) and cuBLASLt's "TN" matmul read W row by row:
//   dense      N rows of K elements of `dense_dtype` (ld = K * elem, no padding, so cuBLASLt
//              sees a plain matrix). dense_dtype is the compute dtype the weight was
//              prepared for: BF16/F16 for 16-bit activations, F32 for f32 activations
//              (16-bit weights are widened exactly); an F16 weight that would overflow f16
//              stays F32.
//   INT8_*     N rows of K int8, each padded with zeros to ld = round_up(K, 16) bytes.
//   INT4_GROUP N rows of K/2 bytes (canonical nibble order), padded with 0x88 (two zero
//              nibbles, u - 8 = 0) to ld = round_up(K/2, 16) bytes.
//   FP8_E4M3   N rows of K e4m3 bytes padded with zeros to ld = round_up(K, 16).
//   INT4_GROUP_ASYM  as INT4_GROUP, padded with code 0 (there is no zero code: u = 0 is the
//              group's min).
//   INT8_GROUP_ASYM  N rows of K uint8 codes padded with code 0 to ld = round_up(K, 16).
//   scales     f32 [N][groups] at a 256-byte aligned offset after the data; groups =
//              K / group_size for the group formats, 1 for INT8_PER_CHANNEL and FP8_E4M3
//              (group = K).
//   mins       asym formats only: f32 [N][groups] at a 256-byte aligned offset after the
//              scales.
// The padding lets every row start 16-byte aligned for the GEMV's 16-byte loads; padded
// elements decode to 0 (asym: to the last group's min) and meet zero activations.
//
// Immutable after prepack, so any stream of its device may use it concurrently.
#pragma once

#include <cstdint>

#include "cuda_internal.h"
#include "linear_kernels.h"
#include "weight_layout.h"

struct tsr_weight_s {
  uint64_t magic = 0;
  tsr_device_s* device = nullptr;
  tsr_weight_format format = TSR_WEIGHT_FORMAT_F32;
  tsr_dtype dense_dtype = TSR_DTYPE_F32;  // storage dtype of the dense formats
  void* memory = nullptr;                 // the one device allocation
  uint64_t bytes = 0;                     // its size
  tsr::cuda::WeightView view;             // how the kernels read it
};

namespace tsr::cuda {

inline constexpr uint64_t kWeightMagic = 0x7473722d77676874ull;  // "tsr-wght"

// Throws INVALID_ARGUMENT naming `what` unless `weight` is a live CUDA weight handle.
const tsr_weight_s* check_weight(tsr_weight_t weight, const char* what);

}  // namespace tsr::cuda
