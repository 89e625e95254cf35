// GGUF (ggml) block formats decoded into the plugin ABI's canonical quantized formats, without
// requantizing: each block becomes integer codes plus a float32 scale (and min) per canonical
// group, such that the canonical formula in float32 gives exactly what ggml's (and the gguf
// package's) dequantization gives.
//
//   type   block  bytes  canonical           group  canonical bits/weight  value
//   Q8_0   32     34     INT8_GROUP          32     9                      d * q
//   Q5_0   32     22     INT8_GROUP          32     9                      d * (q5 - 16)
//   Q4_0   32     18     INT4_GROUP          32     5                      d * (q4 - 8)
//   Q4_1   32     20     INT4_GROUP_ASYM     32     6                      d * q4 + m
//   Q5_1   32     24     INT8_GROUP_ASYM     32     10                     d * q5 + m
//   Q2_K   256    84     INT4_GROUP_ASYM     16     8                      d*sc * q2 - dmin*m
//   Q3_K   256    110    INT4_GROUP          16     6                      d*(sc-32) * (q3 - 4)
//   Q4_K   256    144    INT4_GROUP_ASYM     32     6                      d*sc * q4 - dmin*m
//   Q5_K   256    176    INT8_GROUP_ASYM     32     10                     d*sc * q5 - dmin*m
//   Q6_K   256    210    INT8_GROUP          16     10                     d*sc * (q6 - 32)
//   IQ4_NL 32     18     INT8_GROUP          32     9                      d * grid[q4]
// (d, dmin, m: float16; sc, m of the K types: 4- or 6-bit sub-block factors; grid: IQ4_NL's
// 16 int8 code points.) Q5_1 and Q5_K carry 5-bit codes with an offset: INT8_GROUP_ASYM (ABI
// 1.2) holds them as uint8 codes 0..31; the CPU plugin repacks such weights to 5 bits.
//
// Hand-written from the published block layouts (ggml-common.h): no C/C++ library for them is
// packaged by Debian.
#pragma once

#include <cstdint>

#include "model/tensor_view.h"
#include "tessera/plugin.h"

namespace tessera::model {

struct GgufBlockLayout {
  int elements = 0;  // per block
  int bytes = 0;     // per block
  tsr_weight_format canonical = TSR_WEIGHT_FORMAT_F32;
  int group = 0;  // canonical group size
};

// The layout of a GGUF block type; elements == 0 for types that are not block formats.
GgufBlockLayout gguf_block_layout(FileDType dtype);

// Decodes one block: codes[i] for each element (int8 value for INT8_GROUP, u in 0..15 for the
// 4-bit formats, u in 0..31 for INT8_GROUP_ASYM) and, per group of the block, scales[g] and
// mins[g] (mins only for the *_ASYM formats). Throws naming `view` when a scale is not finite (a
// corrupt block).
void decode_gguf_block(const TensorView& view, int64_t block_index, int8_t* codes, float* scales,
                       float* mins);

}  // namespace tessera::model
