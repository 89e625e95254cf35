// GGUF block formats element for element against the official gguf package: every tensor of
// the fixtures written by scripts/make_quant_blocks.py has a "<name>.expected" twin holding
// gguf.quants.dequantize of its blocks. Tessera's dense dequantization (to_f32, used for
// embedding tables) and its canonical linear weight (dequantized by the format definitions of
// plugin.h, in the same float32 operations) must both reproduce it bit for bit: on random blocks
// of every loaded type, and on real Q4_1 tensors of SmolLM2-135M-Instruct when it was fetched.
// Bad blocks (non-finite scales), rows that are not whole blocks, unknown type ids and
// truncated files are each one error naming the tensor.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>

#include "common/check.h"
#include "model/canonical_weight.h"
#include "model/gguf_file.h"
#include "tessera/plugin.hpp"

namespace {

namespace fs = std::filesystem;
using tessera::model::CanonicalWeight;
using tessera::model::GgufFile;
using tessera::model::Quantization;

const std::string kDir = TESSERA_QUANT_BLOCKS_DIR;

// The weight a canonical descriptor stands for, in plugin.h's definitions, in float32.
std::vector<float> canonical_values(const tsr_weight_desc& d) {
  std::vector<float> out(static_cast<size_t>(d.rows * d.cols));
  const auto* bytes = static_cast<const uint8_t*>(d.data);
  for (int64_t r = 0; r < d.rows; ++r) {
    for (int64_t c = 0; c < d.cols; ++c) {
      const int64_t i = r * d.cols + c;
      const int64_t g = d.group_size > 0 ? r * (d.cols / d.group_size) + c / d.group_size : r;
      const int u = c % 2 == 0 ? bytes[i / 2] & 0x0f : bytes[i / 2] >> 4;
      switch (d.format) {
        case TSR_WEIGHT_FORMAT_INT8_GROUP:
          out[i] = d.scales[g] * static_cast<float>(static_cast<int8_t>(bytes[i]));
          break;
        case TSR_WEIGHT_FORMAT_INT4_GROUP:
          out[i] = d.scales[g] * static_cast<float>(u - 8);
          break;
        case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM: {
          const float product = d.scales[g] * static_cast<float>(u);
          out[i] = product + d.mins[g];
          break;
        }
        case TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM: {
          const float product = d.scales[g] * static_cast<float>(bytes[i]);
          out[i] = product + d.mins[g];
          break;
        }
        default:
          ADD_FAILURE() << "unexpected canonical format " << d.format;
          return out;
      }
    }
  }
  return out;
}

// Compares bit patterns (so that -0.0 and 0.0, or two NaNs, are told apart).
void expect_same_floats(const std::vector<float>& got, const std::vector<float>& expected,
                        const std::string& what) {
  ASSERT_EQ(got.size(), expected.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    uint32_t a, b;
    std::memcpy(&a, &got[i], 4);
    std::memcpy(&b, &expected[i], 4);
    if (a != b && reported++ < 5) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", gguf gives "
                    << expected[i];
    }
  }
}

void check_file(const std::string& path, size_t expected_tensors) {
  GgufFile file(path);
  size_t checked = 0;
  for (const auto& [name, view] : file.tensors()) {
    if (name.ends_with(".expected")) continue;
    SCOPED_TRACE(name + " (" + tessera::model::file_dtype_name(view.dtype) + ")");
    const auto expected = tessera::model::to_f32(file.get(name + ".expected"));
    expect_same_floats(tessera::model::to_f32(view), expected, "to_f32");
    const auto canonical = CanonicalWeight::from_tensor(view, Quantization::kNone);
    expect_same_floats(canonical_values(canonical.desc()), expected, "canonical weight");
    ++checked;
  }
  EXPECT_EQ(checked, expected_tensors) << path;
}

TEST(QuantBlocks, EveryTypeMatchesGgufDequantize) {
  check_file(kDir + "/blocks.gguf", 11);
}

TEST(QuantBlocks, SmolLM2Q4_1TensorsMatchGgufDequantize) {
  const std::string path = kDir + "/smollm2-blocks.gguf";
  if (!fs::exists(path) || fs::file_size(path) == 0) {
    GTEST_SKIP() << "SmolLM2-135M-Instruct not fetched (scripts/install-deps.sh): skipping its "
                    "real Q4_1 blocks";
  }
  check_file(path, 3);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Loads `bytes` as a GGUF file and, when `convert`, converts tensor `name` both ways; returns
// the error message ("" when none).
std::string error_of(const std::string& bytes, const std::string& name, bool convert) {
  const fs::path path =
      fs::temp_directory_path() / ("tessera-quant-blocks-" + std::to_string(::getpid()) + ".gguf");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  std::string message;
  try {
    GgufFile file(path.string());
    if (convert) {
      const auto& view = file.get(name);
      (void)tessera::model::to_f32(view);
      (void)CanonicalWeight::from_tensor(view, Quantization::kNone);
    }
  } catch (const tessera::Error& e) {
    message = e.what();
  }
  fs::remove(path);
  return message;
}

// The tensor info of `name`: name length (u64), name, n_dims (u32), dims (u64 each), type (u32).
size_t info_of(const std::string& bytes, const std::string& name) {
  std::string needle(8, '\0');
  const uint64_t length = name.size();
  std::memcpy(needle.data(), &length, 8);
  needle += name;
  const size_t at = bytes.find(needle + std::string("\x02\0\0\0", 4));
  EXPECT_NE(at, std::string::npos) << name;
  return at + needle.size() + 4;  // the first dimension (ne0 = columns)
}

// A block type's bad inputs, each one error naming the tensor: a NaN or infinite float16 field
// (byte offsets `f16_fields` of a block) in the first block, a row of `ragged_cols` elements
// (not whole blocks), an unknown type id, and the file cut short inside the tensor's data.
void expect_bad_blocks_rejected(const std::string& name, size_t block_bytes,
                                std::initializer_list<size_t> f16_fields, uint64_t ragged_cols) {
  SCOPED_TRACE(name);
  const std::string original = read_file(kDir + "/blocks.gguf");
  GgufFile good(kDir + "/blocks.gguf");
  const auto& tensor = good.get(name);
  // The first block's bytes are unique in the file (random data).
  const std::string first_block(reinterpret_cast<const char*>(tensor.data), block_bytes);
  const size_t block_at = original.find(first_block);
  ASSERT_NE(block_at, std::string::npos);
  ASSERT_EQ(original.find(first_block, block_at + 1), std::string::npos);
  const std::string quoted = "'" + name + "'";
  for (const uint16_t bad : {uint16_t{0x7e00}, uint16_t{0x7c00}}) {  // NaN, +Inf
    for (const size_t field : f16_fields) {
      std::string bytes = original;
      std::memcpy(bytes.data() + block_at + field, &bad, 2);
      const std::string message = error_of(bytes, name, true);
      EXPECT_NE(message.find(quoted), std::string::npos) << message;
      EXPECT_NE(message.find("non-finite"), std::string::npos) << message;
    }
  }
  std::string bytes = original;
  std::memcpy(bytes.data() + info_of(bytes, name), &ragged_cols, 8);
  std::string message = error_of(bytes, name, false);
  EXPECT_NE(message.find(quoted), std::string::npos) << message;
  EXPECT_NE(message.find("whole number of blocks"), std::string::npos) << message;

  bytes = original;
  const uint32_t unknown = 77;
  std::memcpy(bytes.data() + info_of(bytes, name) + 16, &unknown, 4);
  message = error_of(bytes, name, false);
  EXPECT_NE(message.find(quoted + " has GGUF type 77 (unknown)"), std::string::npos) << message;

  // Cut inside this tensor's first block: the tensor (or one after it) lies outside the file.
  message = error_of(original.substr(0, block_at + block_bytes / 2), name, false);
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
}

TEST(QuantBlocks, BadBlocksAreOneErrorNamingTheTensor) {
  expect_bad_blocks_rejected("Q4_1", 20, {0, 2}, 80);  // d, m; 80 = 2.5 blocks of 32
}

TEST(QuantBlocks, BadQ5_1BlocksAreOneErrorNamingTheTensor) {
  expect_bad_blocks_rejected("Q5_1", 24, {0, 2}, 80);  // d, m
}

TEST(QuantBlocks, BadQ5_KBlocksAreOneErrorNamingTheTensor) {
  expect_bad_blocks_rejected("Q5_K", 176, {0, 2}, 384);  // d, dmin; 384 = 1.5 blocks of 256
}

}  // namespace
