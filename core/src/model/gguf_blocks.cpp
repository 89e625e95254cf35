// GGUF block decoding; see gguf_blocks.h. Element orders follow ggml's dequantize_row_* loops.
#include "model/gguf_blocks.h"

#include <cmath>
#include <cstring>

#include "common/check.h"
#include "tessera/plugin.hpp"

namespace tessera::model {
namespace {

// A float16 scale; NaN or infinity there means a corrupt file.
float scale_at(const TensorView& view, const uint8_t* p, int64_t block) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  const float value = tsr::sdk::f16_to_f32(bits);
  TSR_CHECK(std::isfinite(value),
            "tensor '{}' ({}): block {} has a non-finite scale or min ({}): the file is corrupt",
            view.name, file_dtype_name(view.dtype), block, value);
  return value;
}

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (ggml's get_scale_min_k4).
void scale_min_k4(int j, const uint8_t* q, int* scale, int* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// The 16 signed 6-bit scales of a Q3_K block, packed in 12 bytes.
void q3k_scales(const uint8_t* packed, int8_t* out) {
  uint32_t aux[4];
  std::memcpy(aux, packed, 12);
  constexpr uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  const uint32_t tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
  aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
  aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
  aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
  std::memcpy(out, aux, 16);
  for (int i = 0; i < 16; ++i) out[i] = static_cast<int8_t>(out[i] - 32);
}

void decode_q2_k(const TensorView& view, int64_t b, const uint8_t* p, int8_t* codes, float* scales,
                 float* mins) {
  const uint8_t* sc = p;
  const uint8_t* q = p + 16;
  const float d = scale_at(view, p + 80, b);
  const float dmin = scale_at(view, p + 82, b);
  int sub = 0;
  for (int half = 0; half < 2; ++half, q += 32) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int part = 0; part < 2; ++part, ++sub) {
        scales[sub] = d * static_cast<float>(sc[sub] & 0x0f);
        mins[sub] = -(dmin * static_cast<float>(sc[sub] >> 4));
        for (int l = 0; l < 16; ++l) {
          codes[sub * 16 + l] = static_cast<int8_t>((q[part * 16 + l] >> shift) & 3);
        }
      }
    }
  }
}

void decode_q3_k(const TensorView& view, int64_t b, const uint8_t* p, int8_t* codes,
                 float* scales) {
  const uint8_t* hmask = p;
  const uint8_t* q = p + 32;
  int8_t sc[16];
  q3k_scales(p + 96, sc);
  const float d = scale_at(view, p + 108, b);
  int sub = 0;
  uint8_t bit = 1;
  for (int half = 0; half < 2; ++half, q += 32) {
    for (int shift = 0; shift < 8; shift += 2, bit = static_cast<uint8_t>(bit << 1)) {
      for (int part = 0; part < 2; ++part, ++sub) {
        scales[sub] = d * static_cast<float>(sc[sub]);
        for (int l = 0; l < 16; ++l) {
          const int low = (q[part * 16 + l] >> shift) & 3;
          const int high = (hmask[part * 16 + l] & bit) ? 4 : 0;
          codes[sub * 16 + l] = static_cast<int8_t>(low + high + 4);  // u - 8 = low - 4 + high
        }
      }
    }
  }
}

void decode_q4_k(const TensorView& view, int64_t b, const uint8_t* p, int8_t* codes, float* scales,
                 float* mins) {
  const float d = scale_at(view, p, b);
  const float dmin = scale_at(view, p + 2, b);
  const uint8_t* packed = p + 4;
  const uint8_t* q = p + 16;
  for (int chunk = 0; chunk < 4; ++chunk, q += 32) {
    for (int part = 0; part < 2; ++part) {
      const int sub = 2 * chunk + part;
      int sc, m;
      scale_min_k4(sub, packed, &sc, &m);
      scales[sub] = d * static_cast<float>(sc);
      mins[sub] = -(dmin * static_cast<float>(m));
      for (int l = 0; l < 32; ++l) {
        codes[sub * 32 + l] = static_cast<int8_t>(part == 0 ? q[l] & 0x0f : q[l] >> 4);
      }
    }
  }
}

// Q5_K: Q4_K's scales and nibbles plus one high bit per element; sub-block 2c takes bit 2c of
// qh[l] for its element l, sub-block 2c + 1 bit 2c + 1 (ggml's u1/u2 masks).
void decode_q5_k(const TensorView& view, int64_t b, const uint8_t* p, int8_t* codes, float* scales,
                 float* mins) {
  const float d = scale_at(view, p, b);
  const float dmin = scale_at(view, p + 2, b);
  const uint8_t* packed = p + 4;
  const uint8_t* qh = p + 16;
  const uint8_t* q = p + 48;
  for (int chunk = 0; chunk < 4; ++chunk, q += 32) {
    for (int part = 0; part < 2; ++part) {
      const int sub = 2 * chunk + part;
      int sc, m;
      scale_min_k4(sub, packed, &sc, &m);
      scales[sub] = d * static_cast<float>(sc);
      mins[sub] = -(dmin * static_cast<float>(m));
      for (int l = 0; l < 32; ++l) {
        const int low = part == 0 ? q[l] & 0x0f : q[l] >> 4;
        const int high = (qh[l] >> sub) & 1;
        codes[sub * 32 + l] = static_cast<int8_t>(low | (high << 4));
      }
    }
  }
}

void decode_q6_k(const TensorView& view, int64_t b, const uint8_t* p, int8_t* codes,
                 float* scales) {
  const uint8_t* ql = p;
  const uint8_t* qh = p + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(p + 192);
  const float d = scale_at(view, p + 208, b);
  for (int sub = 0; sub < 16; ++sub) scales[sub] = d * static_cast<float>(sc[sub]);
  for (int half = 0; half < 2; ++half, ql += 64, qh += 32) {
    int8_t* y = codes + half * 128;
    for (int l = 0; l < 32; ++l) {
      y[l] = static_cast<int8_t>(((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32);
      y[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32);
      y[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      y[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

// IQ4_NL's 16 code points: a non-uniform 4-bit grid (from the GGUF format definition). Each
// is an int8, so a block maps exactly onto INT8_GROUP (code point times the block's scale).
constexpr int8_t kIq4NlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                     1,    13,   25,  38,  53,  69,  89,  113};

}  // namespace

GgufBlockLayout gguf_block_layout(FileDType dtype) {
  switch (dtype) {
    case FileDType::kQ8_0:
      return {32, 34, TSR_WEIGHT_FORMAT_INT8_GROUP, 32};
    case FileDType::kQ5_0:
      return {32, 22, TSR_WEIGHT_FORMAT_INT8_GROUP, 32};
    case FileDType::kQ4_0:
      return {32, 18, TSR_WEIGHT_FORMAT_INT4_GROUP, 32};
    case FileDType::kQ4_1:
      return {32, 20, TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, 32};
    case FileDType::kQ5_1:
      return {32, 24, TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM, 32};
    case FileDType::kQ2_K:
      return {256, 84, TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, 16};
    case FileDType::kQ3_K:
      return {256, 110, TSR_WEIGHT_FORMAT_INT4_GROUP, 16};
    case FileDType::kQ4_K:
      return {256, 144, TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM, 32};
    case FileDType::kQ5_K:
      return {256, 176, TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM, 32};
    case FileDType::kQ6_K:
      return {256, 210, TSR_WEIGHT_FORMAT_INT8_GROUP, 16};
    case FileDType::kIQ4_NL:
      return {32, 18, TSR_WEIGHT_FORMAT_INT8_GROUP, 32};
    default:
      return {};
  }
}

void decode_gguf_block(const TensorView& view, int64_t block_index, int8_t* codes, float* scales,
                       float* mins) {
  const GgufBlockLayout layout = gguf_block_layout(view.dtype);
  TSR_CHECK(layout.elements > 0, "tensor '{}' ({}) is not a GGUF block format", view.name,
            file_dtype_name(view.dtype));
  const uint8_t* p = view.data + block_index * layout.bytes;
  switch (view.dtype) {
    case FileDType::kQ8_0:
      scales[0] = scale_at(view, p, block_index);
      std::memcpy(codes, p + 2, 32);
      return;
    case FileDType::kQ5_0:
    case FileDType::kQ5_1: {
      // Q5_0 is symmetric (codes q5 - 16 into INT8_GROUP), Q5_1 keeps q5 with the min m.
      const bool asym = view.dtype == FileDType::kQ5_1;
      const int offset = asym ? 0 : 16;
      scales[0] = scale_at(view, p, block_index);
      if (asym) mins[0] = scale_at(view, p + 2, block_index);
      uint32_t high;
      std::memcpy(&high, p + (asym ? 4 : 2), 4);
      const uint8_t* qs = p + (asym ? 8 : 6);
      for (int j = 0; j < 16; ++j) {
        const int h0 = static_cast<int>((high >> j) << 4) & 0x10;
        const int h1 = static_cast<int>(high >> (j + 12)) & 0x10;
        codes[j] = static_cast<int8_t>(((qs[j] & 0x0f) | h0) - offset);
        codes[j + 16] = static_cast<int8_t>(((qs[j] >> 4) | h1) - offset);
      }
      return;
    }
    case FileDType::kQ4_0:
    case FileDType::kQ4_1: {
      const bool asym = view.dtype == FileDType::kQ4_1;
      scales[0] = scale_at(view, p, block_index);
      if (asym) mins[0] = scale_at(view, p + 2, block_index);
      const uint8_t* qs = p + (asym ? 4 : 2);
      for (int j = 0; j < 16; ++j) {
        codes[j] = static_cast<int8_t>(qs[j] & 0x0f);
        codes[j + 16] = static_cast<int8_t>(qs[j] >> 4);
      }
      return;
    }
    case FileDType::kIQ4_NL: {
      scales[0] = scale_at(view, p, block_index);
      const uint8_t* qs = p + 2;
      for (int j = 0; j < 16; ++j) {
        codes[j] = kIq4NlValues[qs[j] & 0x0f];
        codes[j + 16] = kIq4NlValues[qs[j] >> 4];
      }
      return;
    }
    case FileDType::kQ2_K:
      decode_q2_k(view, block_index, p, codes, scales, mins);
      return;
    case FileDType::kQ3_K:
      decode_q3_k(view, block_index, p, codes, scales);
      return;
    case FileDType::kQ4_K:
      decode_q4_k(view, block_index, p, codes, scales, mins);
      return;
    case FileDType::kQ5_K:
      decode_q5_k(view, block_index, p, codes, scales, mins);
      return;
    case FileDType::kQ6_K:
      decode_q6_k(view, block_index, p, codes, scales);
      return;
    default:
      return;
  }
}

}  // namespace tessera::model
