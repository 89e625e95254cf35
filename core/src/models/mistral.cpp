// Mistral (MistralForCausalLM): the Llama block with an optional sliding attention window
// (config.sliding_window), which the paged attention op applies.
#include "models/decoder_spec.h"

namespace tessera::models {

DecoderSpec build_mistral(const model::ModelConfig& config) {
  DecoderSpec spec = build_llama(config);
  spec.qkv_bias = false;
  return spec;
}

}  // namespace tessera::models
