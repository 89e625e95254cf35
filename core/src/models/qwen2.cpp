// Qwen2 (Qwen2ForCausalLM): the Llama decoder with biases on the q, k and v projections;
// small models tie the embedding and the LM head. Its sliding window (use_sliding_window)
// is not supported: full attention, as before.
#include "models/llama.h"

namespace tessera::models {

void configure_qwen2(model::ModelConfig& config, WeightFileKind /*kind*/) {
  config.attention_bias = true;
  config.sliding_window = 0;
}

std::unique_ptr<Model> create_qwen2(const model::ModelConfig& config) {
  return std::make_unique<LlamaModel>(config, AttentionFeatures{true, false});
}

}  // namespace tessera::models
