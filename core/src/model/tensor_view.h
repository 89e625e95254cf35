// A view of one tensor inside a mapped weight file: type, shape (outermost first, as
// PyTorch writes it) and the bytes. Views do not own memory; the file they came from must
// outlive them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tessera::model {

enum class FileDType {
  kF32,
  kF16,
  kBF16,
  kI8,
  kU8,
  kI32,
  kI64,
  // GGUF block formats (see gguf_blocks.h)
  kQ8_0,
  kQ4_0,
  kQ4_1,
  kQ5_0,
  kQ5_1,
  kQ2_K,
  kQ3_K,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  kIQ4_NL,
};

const char* file_dtype_name(FileDType dtype);
// Bytes of `count` elements along the innermost dimension (block formats: count must be a
// multiple of the block size; returns 0 otherwise).
size_t file_dtype_bytes(FileDType dtype, int64_t count);
// Bytes of a whole tensor of `shape` (outermost first; empty for a scalar), or nullopt when a
// dimension is negative, the innermost is not a whole number of blocks, or the count does not
// fit in 64 bits. File headers give shapes we did not write: a product that wraps around would
// make a huge tensor look small enough to fit the file.
std::optional<size_t> tensor_bytes(FileDType dtype, const std::vector<int64_t>& shape);

struct TensorView {
  std::string name;
  FileDType dtype = FileDType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t bytes = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

}  // namespace tessera::model
