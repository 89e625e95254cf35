// Hugging Face config.json (models/registry.h parse_hf_config: the generic reader plus the
// family's own checks). Invariant beyond "no crash": a config that is accepted has positive
// sizes the engine can divide by, and a parameter count that did not overflow.
#include <string>

#include "fuzz_support.h"
#include "model/model_config.h"
#include "models/registry.h"
#include "tessera/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(tessera::fuzz::as_text(data, size));
  try {
    const auto config = tessera::models::parse_hf_config(text, "config.json");
    TSR_FUZZ_ASSERT(config.vocab_size > 0 && config.hidden_size > 0 && config.num_layers > 0,
                    "accepted a config with a non-positive size");
    TSR_FUZZ_ASSERT(config.num_heads > 0 && config.num_kv_heads > 0 && config.head_dim > 0,
                    "accepted a config with a non-positive head count");
    TSR_FUZZ_ASSERT(config.num_heads % config.num_kv_heads == 0,
                    "accepted heads that are not a multiple of the KV heads");
    TSR_FUZZ_ASSERT(config.parameter_count() > 0, "a parameter count that overflowed");
  } catch (const tessera::Error& e) {
    TSR_FUZZ_ASSERT(e.what()[0] != '\0', "an error without a message");
  }
  return 0;
}
