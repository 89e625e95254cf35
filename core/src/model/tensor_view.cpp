#include "model/tensor_view.h"

#include "model/gguf_blocks.h"

#include <limits>

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
    case FileDType::kQ5_1:
      return "Q5_1";
    case FileDType::kQ2_K:
      return "Q2_K";
    case FileDType::kQ3_K:
      return "Q3_K";
    case FileDType::kQ4_K:
      return "Q4_K";
    case FileDType::kQ5_K:
      return "Q5_K";
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

std::optional<size_t> tensor_bytes(FileDType dtype, const std::vector<int64_t>& shape) {
  const GgufBlockLayout block = gguf_block_layout(dtype);
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t elements = 1;
  // The bytes of the leading dimensions (a block type counts one byte per element here).
  uint64_t leading_bytes = block.elements > 0 ? 1 : file_dtype_bytes(dtype, 1);
  for (int64_t dim : shape) {
    // Every partial product must fit int64_t too: TensorView::numel() multiplies in it, and
    // code that strides in bytes multiplies a dimension by the element size. So [2^62, 0] F32
    // (zero bytes, but 2^64 bytes per step of the second index) is refused (found by fuzzing).
    if (dim < 0 || __builtin_mul_overflow(elements, static_cast<uint64_t>(dim), &elements) ||
        elements > kMax ||
        __builtin_mul_overflow(leading_bytes, static_cast<uint64_t>(dim), &leading_bytes) ||
        leading_bytes > kMax) {
      return std::nullopt;
    }
  }
  if (block.elements > 0) {
    const auto block_elements = static_cast<uint64_t>(block.elements);
    const int64_t inner = shape.empty() ? 1 : shape.back();
    if (static_cast<uint64_t>(inner) % block_elements != 0) return std::nullopt;
    return elements / block_elements * static_cast<uint64_t>(block.bytes);
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(elements, static_cast<uint64_t>(file_dtype_bytes(dtype, 1)), &bytes)) {
    return std::nullopt;
  }
  return bytes;
}

}  // namespace tessera::model
