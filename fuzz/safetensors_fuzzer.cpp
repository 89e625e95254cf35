// safetensors files (model/safetensors_file.h): the length-prefixed JSON header and the
// tensor table it describes. Invariant beyond "no crash": a tensor that parsed has exactly
// the bytes its shape and dtype need (computed here without overflow), inside the file.
#include <string>

#include "fuzz_support.h"
#include "model/safetensors_file.h"
#include "tessera/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static tessera::fuzz::MemoryFile file;
  const std::string path = file.write(data, size);
  try {
    const tessera::model::SafetensorsFile safetensors(path);
    for (const auto& [name, view] : safetensors.tensors()) {
      uint64_t bytes = tessera::model::file_dtype_bytes(view.dtype, 1);
      for (int64_t dim : view.shape) {
        TSR_FUZZ_ASSERT(dim >= 0, name);
        const bool overflow = __builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes);
        TSR_FUZZ_ASSERT(!overflow, name + ": a tensor whose byte count overflows was accepted");
      }
      TSR_FUZZ_ASSERT(bytes == view.bytes, name + ": byte count disagrees with the shape");
      TSR_FUZZ_ASSERT(view.bytes <= size, name + ": larger than the file");
      if (view.bytes > 0) {
        volatile uint8_t sink = view.data[0];
        sink = view.data[view.bytes - 1];
        (void)sink;
      }
    }
  } catch (const tessera::Error& e) {
    TSR_FUZZ_ASSERT(e.what()[0] != '\0', "an error without a message");
  }
  return 0;
}
