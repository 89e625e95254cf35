#include "model/tensor_view.h"

#include "model/gguf_blocks.h"

namespace tessera::model {

const char* file_dtype_name(FileDType dtype) {
  switch (dtype) {
    case FileDType::kF32:
      return "F32";
    case FileDType::kF16:
      return "F16";
    case FileDType::kBF16:
      return "BF16";
    case FileDType::kI8:
      return "I8";
    case FileDType::kU8:
      return "U8";
    case FileDType::kI32:
      return "I32";
    case FileDType::kI64:
      return "I64";
    case FileDType::kQ8_0:
      return "Q8_0";
    case FileDType::kQ4_0:
      return "Q4_0";
    case FileDType::kQ4_1:
      return "Q4_1";
    case FileDType::kQ5_0:
      return "Q5_0";
    case FileDType::kQ2_K:
      return "Q2_K";
    case FileDType::kQ3_K:
      return "Q3_K";
    case FileDType::kQ4_K:
      return "Q4_K";
    case FileDType::kQ6_K:
      return "Q6_K";
    case FileDType::kIQ4_NL:
      return "IQ4_NL";
  }
  return "?";
}

size_t file_dtype_bytes(FileDType dtype, int64_t count) {
  if (count < 0) return 0;
  const auto n = static_cast<size_t>(count);
  switch (dtype) {
    case FileDType::kF32:
    case FileDType::kI32:
      return n * 4;
    case FileDType::kF16:
    case FileDType::kBF16:
      return n * 2;
    case FileDType::kI8:
    case FileDType::kU8:
      return n;
    case FileDType::kI64:
      return n * 8;
    default: {
      const GgufBlockLayout block = gguf_block_layout(dtype);
      const auto elements = static_cast<size_t>(block.elements);
      return elements > 0 && n % elements == 0 ? n / elements * static_cast<size_t>(block.bytes)
                                               : 0;
    }
  }
  return 0;
}

}  // namespace tessera::model
