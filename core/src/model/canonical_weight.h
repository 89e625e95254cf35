// Converts weights from their file formats into the plugin ABI's canonical formats
// (tsr_weight_desc), quantizing full-precision weights at load when asked
// (`--quantization int8|int4`, IPEX-LLM's sym_int8 / sym_int4).
//   F32/F16/BF16 tensors pass through as views of the mapped file (no copy).
//   GGUF blocks (Q8_0, Q5_0, Q5_1, Q4_0, Q4_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL) ->
//     INT8_GROUP, INT4_GROUP, INT4_GROUP_ASYM or INT8_GROUP_ASYM without requantizing: only
//     the layout changes (table in gguf_blocks.h).
//   int8: symmetric per group, scale = max|w| / 127.  int4: scale = max|w| / 7, u = q + 8.
// The result owns any bytes it had to make; `desc()` points into it or into the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/tensor_view.h"
#include "tessera/plugin.h"

namespace tessera::model {

// kNone: weights as in the file. kDequantize (`--quantization none`): GGUF blocks are
// dequantized to f32 at load (full-precision tensors pass through as with kNone). kInt8 /
// kInt4 / kFp8 quantize full-precision weights, and GGUF blocks after dequantizing them.
enum class Quantization { kNone, kInt8, kInt4, kFp8, kDequantize };

// Parses "int8", "sym_int8", "int4", "sym_int4", "fp8", "none" (kDequantize), "" (kNone);
// throws on others.
Quantization parse_quantization(const std::string& name);
const char* quantization_name(Quantization q);

class CanonicalWeight {
 public:
  // A 2-D weight [rows, cols] (rows = output features). With kNone, GGUF blocks keep their
  // format; any other `quantization` dequantizes them first and then applies as to f32.
  static CanonicalWeight from_tensor(const TensorView& view, Quantization quantization,
                                     int64_t group_size = 32);

  // [a; b]: b's rows appended to a's (gate and up fused into one GEMM). Both must share
  // format, cols and group size. The result owns a copy.
  static CanonicalWeight concat_rows(const CanonicalWeight& a, const CanonicalWeight& b);

  // The block rows [row_begin, row_begin + num_rows) x cols [col_begin, col_begin + num_cols)
  // (a tensor-parallel shard). Group-wise formats are cut only between whole groups: a
  // column range that would split a group throws, naming `what`. The result owns a copy.
  CanonicalWeight slice(int64_t row_begin, int64_t num_rows, int64_t col_begin, int64_t num_cols,
                        const std::string& what) const;

  CanonicalWeight() = default;
  CanonicalWeight(const CanonicalWeight& other);
  CanonicalWeight& operator=(const CanonicalWeight& other);
  CanonicalWeight(CanonicalWeight&&) noexcept = default;
  CanonicalWeight& operator=(CanonicalWeight&&) noexcept = default;

  const tsr_weight_desc& desc() const { return desc_; }
  tsr_weight_format format() const { return desc_.format; }

 private:
  void repoint(const CanonicalWeight& other);
  static CanonicalWeight from_dequantized(const TensorView& view, Quantization quantization,
                                          int64_t group_size);

  std::vector<uint8_t> data_;
  std::vector<float> scales_;
  std::vector<float> mins_;  // the *_ASYM formats
  tsr_weight_desc desc_{};
};

// Dense float32 copy of any supported tensor (dequantizing block formats). For embedding
// tables, norms and biases, which ops take as plain activation-dtype tensors.
std::vector<float> to_f32(const TensorView& view);

// Converts f32 values to an activation dtype's bytes (F32, BF16 or F16).
std::vector<uint8_t> f32_to_dtype(const std::vector<float>& values, tsr_dtype dtype);

// "f32", "int4_group_asym", ... for messages.
const char* weight_format_name(tsr_weight_format format);

// Bytes per element of a canonical format, for memory planning (scales included).
double canonical_bytes_per_element(tsr_weight_format format, int64_t group_size);

}  // namespace tessera::model
