// GGUF files (model/gguf_file.h): header, metadata, tensor infos; then what the loader derives
// from a file that parsed: the model config (models/registry.h) and the tokenizer from
// tokenizer.ggml.* metadata (engine/model_loading.h), which must encode and decode.
// Invariant beyond "no crash": every tensor view's byte count is exactly its shape times its
// type's size, computed here without overflow, and lies inside the file.
#include <string>

#include "engine/model_loading.h"
#include "fuzz_support.h"
#include "model/gguf_file.h"
#include "models/registry.h"
#include "tessera/error.h"
#include "tessera/tokenizer.h"

namespace {

using tessera::fuzz::MemoryFile;

void check_tensor(const tessera::model::TensorView& view, size_t file_size) {
  TSR_FUZZ_ASSERT(!view.shape.empty(), view.name);
  uint64_t rows = 1;
  for (size_t i = 0; i + 1 < view.shape.size(); ++i) {
    TSR_FUZZ_ASSERT(view.shape[i] > 0, view.name);
    const bool overflow = __builtin_mul_overflow(rows, static_cast<uint64_t>(view.shape[i]), &rows);
    TSR_FUZZ_ASSERT(!overflow, view.name + ": a shape whose element count overflows was accepted");
  }
  const int64_t inner = view.shape.back();
  TSR_FUZZ_ASSERT(inner > 0, view.name);
  const size_t row_bytes = tessera::model::file_dtype_bytes(view.dtype, inner);
  TSR_FUZZ_ASSERT(row_bytes > 0, view.name);
  uint64_t expected = 0;
  TSR_FUZZ_ASSERT(!__builtin_mul_overflow(rows, row_bytes, &expected),
                  view.name + ": a tensor whose byte count overflows was accepted");
  TSR_FUZZ_ASSERT(expected == view.bytes, view.name + ": byte count disagrees with the shape");
  TSR_FUZZ_ASSERT(view.bytes <= file_size, view.name + ": larger than the file");
  if (view.bytes > 0) {
    // Reading both ends faults (or trips ASan) when the view points outside the mapping.
    volatile uint8_t sink = view.data[0];
    sink = view.data[view.bytes - 1];
    (void)sink;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static MemoryFile file;
  const std::string path = file.write(data, size);
  try {
    const tessera::model::GgufFile gguf(path);
    for (const auto& [name, view] : gguf.tensors()) check_tensor(view, size);
    try {
      (void)tessera::models::config_from_gguf(gguf);
    } catch (const tessera::Error&) {
    }
    const auto tokenizer = tessera::engine::load_tokenizer(path, "");
    const auto ids = tokenizer->encode("Hello, world! 123 \xC3\xA9t\xC3\xA9");
    (void)tokenizer->decode(ids);
  } catch (const tessera::Error& e) {
    TSR_FUZZ_ASSERT(e.what()[0] != '\0', "an error without a message");
  }
  return 0;
}
