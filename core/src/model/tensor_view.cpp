#include "model/tensor_view.h"

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
    case FileDType::kQ8_0:
      return n % 32 == 0 ? n / 32 * 34 : 0;  // f16 scale + 32 x i8
    case FileDType::kQ4_0:
      return n % 32 == 0 ? n / 32 * 18 : 0;  // f16 scale + 16 bytes
  }
  return 0;
}

}  // namespace tessera::model
