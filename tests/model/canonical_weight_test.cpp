// File formats -> canonical ABI weight formats, checked against dequantized values.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/check.h"
#include "model/canonical_weight.h"
#include "model/gguf_file.h"
#include "model/safetensors_file.h"
#include "tessera/plugin.hpp"

using tessera::model::CanonicalWeight;
using tessera::model::Quantization;

namespace {

const std::string kModels = TESSERA_TINY_MODELS_DIR;

// Dequantizes a canonical weight back to f32 following plugin.h's format definitions.
std::vector<float> dequantize(const tsr_weight_desc& d) {
  std::vector<float> out(static_cast<size_t>(d.rows * d.cols));
  const auto* bytes = static_cast<const uint8_t*>(d.data);
  for (int64_t r = 0; r < d.rows; ++r) {
    for (int64_t c = 0; c < d.cols; ++c) {
      const int64_t i = r * d.cols + c;
      switch (d.format) {
        case TSR_WEIGHT_FORMAT_F32:
          out[i] = static_cast<const float*>(d.data)[i];
          break;
        case TSR_WEIGHT_FORMAT_INT8_GROUP:
          out[i] = static_cast<float>(static_cast<int8_t>(bytes[i])) *
                   d.scales[r * (d.cols / d.group_size) + c / d.group_size];
          break;
        case TSR_WEIGHT_FORMAT_INT4_GROUP: {
          const uint8_t byte = bytes[i / 2];
          const int u = (c % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
          out[i] =
              static_cast<float>(u - 8) * d.scales[r * (d.cols / d.group_size) + c / d.group_size];
          break;
        }
        case TSR_WEIGHT_FORMAT_FP8_E4M3:
          out[i] = tsr::sdk::fp8_e4m3_to_f32(bytes[i]) * d.scales[r];
          break;
        case TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM: {
          const int64_t g = r * (d.cols / d.group_size) + c / d.group_size;
          const float product = static_cast<float>(bytes[i]) * d.scales[g];
          out[i] = product + d.mins[g];
          break;
        }
        default:
          ADD_FAILURE() << "unexpected format";
          break;
      }
    }
  }
  return out;
}

double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

}  // namespace

TEST(CanonicalWeight, FullPrecisionIsAViewOfTheFile) {
  tessera::model::SafetensorsModel model(kModels + "/llama2");
  const auto& view = model.get("model.layers.0.mlp.up_proj.weight");
  const auto w = CanonicalWeight::from_tensor(view, Quantization::kNone);
  EXPECT_EQ(w.format(), TSR_WEIGHT_FORMAT_F32);
  EXPECT_EQ(w.desc().data, view.data);
  EXPECT_EQ(w.desc().rows, 128);
  EXPECT_EQ(w.desc().cols, 64);
}

TEST(CanonicalWeight, QuantizeAtLoadBoundsTheError) {
  tessera::model::SafetensorsModel model(kModels + "/llama2");
  const auto& view = model.get("model.layers.1.mlp.down_proj.weight");
  const auto reference = tessera::model::to_f32(view);
  const auto int8 = CanonicalWeight::from_tensor(view, Quantization::kInt8);
  EXPECT_EQ(int8.format(), TSR_WEIGHT_FORMAT_INT8_GROUP);
  EXPECT_LT(relative_error(dequantize(int8.desc()), reference), 0.01);
  const auto int4 = CanonicalWeight::from_tensor(view, Quantization::kInt4);
  EXPECT_EQ(int4.format(), TSR_WEIGHT_FORMAT_INT4_GROUP);
  EXPECT_LT(relative_error(dequantize(int4.desc()), reference), 0.15);
  EXPECT_GT(relative_error(dequantize(int4.desc()), reference), 1e-4);  // it did quantize
}

// fp8 at load: per-row scale absmax / 448, and every code is the e4m3fn value nearest to
// w / scale (checked against all 254 finite codes), ties to the even code.
TEST(CanonicalWeight, Fp8CodesAreTheNearestE4m3Values) {
  tessera::model::SafetensorsModel model(kModels + "/llama2");
  const auto& view = model.get("model.layers.0.self_attn.q_proj.weight");
  const auto reference = tessera::model::to_f32(view);
  const auto fp8 = CanonicalWeight::from_tensor(view, Quantization::kFp8);
  const tsr_weight_desc& d = fp8.desc();
  ASSERT_EQ(fp8.format(), TSR_WEIGHT_FORMAT_FP8_E4M3);
  const auto* codes = static_cast<const uint8_t*>(d.data);
  for (int64_t r = 0; r < d.rows; ++r) {
    float absmax = 0;
    for (int64_t c = 0; c < d.cols; ++c)
      absmax = std::max(absmax, std::fabs(reference[r * d.cols + c]));
    ASSERT_FLOAT_EQ(d.scales[r], absmax / 448.0f) << "row " << r;
    for (int64_t c = 0; c < d.cols; ++c) {
      const float target = reference[r * d.cols + c] / d.scales[r];
      const float got = tsr::sdk::fp8_e4m3_to_f32(codes[r * d.cols + c]);
      for (int code = 0; code < 256; ++code) {
        const float other = tsr::sdk::fp8_e4m3_to_f32(static_cast<uint8_t>(code));
        if (std::isnan(other)) continue;
        ASSERT_LE(std::fabs(got - target), std::fabs(other - target))
            << "row " << r << " col " << c << ": " << target << " -> " << got << ", but code "
            << code << " is " << other;
      }
    }
  }
  EXPECT_LT(relative_error(dequantize(d), reference), 0.05);
  // Ties go to the even code: 1.0625 lies halfway between 1.0 (0x38) and 1.125 (0x39).
  std::vector<float> tie = {1.0625f, 448.0f, -1.0625f, 0.0f};
  tessera::model::TensorView tie_view;
  tie_view.name = "tie";
  tie_view.dtype = tessera::model::FileDType::kF32;
  tie_view.shape = {1, 4};
  tie_view.data = reinterpret_cast<const uint8_t*>(tie.data());
  const auto tied = CanonicalWeight::from_tensor(tie_view, Quantization::kFp8);
  const auto* tc = static_cast<const uint8_t*>(tied.desc().data);
  EXPECT_FLOAT_EQ(tied.desc().scales[0], 1.0f);
  EXPECT_EQ(tc[0], 0x38);
  EXPECT_EQ(tc[1], 0x7e);
  EXPECT_EQ(tc[2], 0xb8);
  EXPECT_EQ(tc[3], 0x00);
}

TEST(CanonicalWeight, GgufBlocksKeepTheirValues) {
  // The same weights written by gguf's own Q8_0/Q4_0 quantizers: the canonical layout must
  // dequantize to exactly what gguf's block dequantization gives (to_f32), and both must be
  // close to the float original.
  tessera::model::GgufFile f32(kModels + "/llama2-f32.gguf");
  const auto reference = tessera::model::to_f32(f32.get("blk.0.ffn_gate.weight"));
  for (const char* file : {"/llama2-q8_0.gguf", "/llama2-q4_0.gguf"}) {
    tessera::model::GgufFile gguf(kModels + file);
    const auto& view = gguf.get("blk.0.ffn_gate.weight");
    const auto w = CanonicalWeight::from_tensor(view, Quantization::kNone);
    const auto blocks = tessera::model::to_f32(view);
    EXPECT_EQ(dequantize(w.desc()), blocks) << file;
    EXPECT_LT(relative_error(blocks, reference),
              std::string(file).find("q8") != std::string::npos ? 0.01 : 0.15)
        << file;
  }
}

// An explicit --quantization on GGUF blocks: `none` gives gguf's dequantized values as f32
// (owned: the dequantized copy dies inside from_tensor); int8 requantizes those values, so it
// is within int8's rounding (half a step of max|w| / 127 per group) of them.
TEST(CanonicalWeight, GgufBlocksDequantizeWhenAsked) {
  tessera::model::GgufFile gguf(kModels + "/llama2-q4_0.gguf");
  const auto& view = gguf.get("blk.0.ffn_gate.weight");
  const auto blocks = tessera::model::to_f32(view);
  const auto dense = CanonicalWeight::from_tensor(view, Quantization::kDequantize);
  EXPECT_EQ(dense.desc().format, TSR_WEIGHT_FORMAT_F32);
  EXPECT_EQ(dequantize(dense.desc()), blocks);
  const CanonicalWeight copy = dense;  // still its own bytes after a copy
  EXPECT_EQ(dequantize(copy.desc()), blocks);
  const auto int8 = CanonicalWeight::from_tensor(view, Quantization::kInt8);
  EXPECT_EQ(int8.desc().format, TSR_WEIGHT_FORMAT_INT8_GROUP);
  const auto requantized = dequantize(int8.desc());
  const int64_t cols = view.shape[1];
  const int64_t group = int8.desc().group_size;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto row = static_cast<int64_t>(i) / cols;
    const auto col = static_cast<int64_t>(i) % cols;
    const float scale = int8.desc().scales[row * (cols / group) + col / group];
    EXPECT_LE(std::fabs(requantized[i] - blocks[i]), 0.5f * scale * (1 + 1e-5f)) << i;
  }
  EXPECT_EQ(tessera::model::parse_quantization("none"), Quantization::kDequantize);
  EXPECT_EQ(tessera::model::parse_quantization(""), Quantization::kNone);
}

TEST(CanonicalWeight, BadNamesAndShapes) {
  EXPECT_THROW(tessera::model::parse_quantization("int3"), tessera::Error);
  EXPECT_EQ(tessera::model::parse_quantization("sym_int4"), Quantization::kInt4);
  tessera::model::SafetensorsModel model(kModels + "/llama2");
  EXPECT_THROW(CanonicalWeight::from_tensor(model.get("model.norm.weight"), Quantization::kNone),
               tessera::Error);
}

// A tensor-parallel shard of a weight is exactly the sub-block of the whole, in every format;
// a column cut through a quantization group is refused.
TEST(CanonicalWeight, SliceIsTheSubBlockOfTheWhole) {
  tessera::model::SafetensorsModel model(kModels + "/llama2");
  const auto& view = model.get("model.layers.1.mlp.down_proj.weight");  // [64, 128]
  for (const auto q :
       {Quantization::kNone, Quantization::kInt8, Quantization::kInt4, Quantization::kFp8}) {
    SCOPED_TRACE(tessera::model::quantization_name(q));
    const auto whole = CanonicalWeight::from_tensor(view, q);
    const auto full = dequantize(whole.desc());
    const int64_t cols = whole.desc().cols;
    // Rows 16..47 (column-parallel) and columns 64..127 (row-parallel, whole groups of 32).
    const auto part = whole.slice(16, 32, 64, 64, "down_proj");
    ASSERT_EQ(part.desc().rows, 32);
    ASSERT_EQ(part.desc().cols, 64);
    ASSERT_EQ(part.format(), whole.format());
    const auto got = dequantize(part.desc());
    for (int64_t r = 0; r < 32; ++r) {
      for (int64_t c = 0; c < 64; ++c) {
        ASSERT_EQ(got[r * 64 + c], full[(r + 16) * cols + c + 64]) << "row " << r << " col " << c;
      }
    }
    // The copy survives the whole.
    const CanonicalWeight copy = part;
    EXPECT_EQ(dequantize(copy.desc()), got);
  }
  const auto int8 = CanonicalWeight::from_tensor(view, Quantization::kInt8);
  try {
    int8.slice(0, 64, 16, 32, "down_proj");
    FAIL() << "a cut through a group must be refused";
  } catch (const tessera::Error& e) {
    EXPECT_NE(std::string(e.what()).find("quantization groups of 32"), std::string::npos)
        << e.what();
  }
  // Full precision and per-row formats can be cut anywhere.
  const auto f32 = CanonicalWeight::from_tensor(view, Quantization::kNone);
  EXPECT_EQ(f32.slice(0, 64, 16, 32, "down_proj").desc().cols, 32);
}

// GGUF Q5_1 and Q5_K (INT8_GROUP_ASYM): the canonical weight dequantizes to exactly what the
// block decoding gives; tensor-parallel shards (scales and mins cut alike) and the fused
// gate/up concatenation keep every value.
TEST(CanonicalWeight, Q5ShardsAndConcatenationKeepTheirValues) {
  for (const char* file : {"/llama2-q5_1.gguf", "/llama2-k-q5_k.gguf"}) {
    SCOPED_TRACE(file);
    tessera::model::GgufFile gguf(kModels + file);
    const auto& view = gguf.get("blk.1.ffn_down.weight");  // [64, 128] and [256, 512]
    const auto whole = CanonicalWeight::from_tensor(view, Quantization::kNone);
    ASSERT_EQ(whole.format(), TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM);
    const auto full = dequantize(whole.desc());
    EXPECT_EQ(full, tessera::model::to_f32(view));
    const int64_t rows = whole.desc().rows, cols = whole.desc().cols;
    const auto part = whole.slice(16, 32, 64, 64, "down_proj");
    ASSERT_EQ(part.format(), TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM);
    ASSERT_NE(part.desc().mins, nullptr);
    const auto got = dequantize(part.desc());
    for (int64_t r = 0; r < 32; ++r) {
      for (int64_t c = 0; c < 64; ++c) {
        ASSERT_EQ(got[r * 64 + c], full[(r + 16) * cols + c + 64]) << "row " << r << " col " << c;
      }
    }
    const auto twice = CanonicalWeight::concat_rows(whole, whole);
    ASSERT_EQ(twice.desc().rows, 2 * rows);
    auto expected = full;
    expected.insert(expected.end(), full.begin(), full.end());
    EXPECT_EQ(dequantize(twice.desc()), expected);
  }
}
