// Qwen2 (Qwen2ForCausalLM): the Llama block with biases on the q, k and v projections;
// small models tie the embedding and the LM head.
#include "models/decoder_spec.h"

namespace tessera::models {

DecoderSpec build_qwen2(const model::ModelConfig& config) {
  DecoderSpec spec = build_llama(config);
  spec.qkv_bias = true;
  return spec;
}

}  // namespace tessera::models
