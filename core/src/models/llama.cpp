// Llama 2, 3 and 3.1 (LlamaForCausalLM): RMSNorm, RoPE (Llama 3.1 frequency scaling is in the
// config), GQA attention without biases, SwiGLU MLP.
#include "models/decoder_spec.h"

namespace tessera::models {

DecoderSpec build_llama(const model::ModelConfig& config) {
  DecoderSpec spec;
  spec.config = config;
  spec.qkv_bias = config.attention_bias;
  spec.layer_name = llama_layer_name;
  spec.global_name = llama_global_name;
  return spec;
}

}  // namespace tessera::models
