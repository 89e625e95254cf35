// Mistral (MistralForCausalLM): the Llama decoder with an optional sliding attention window
// (config.sliding_window), which the paged attention op applies.
#include "models/llama.h"

namespace tessera::models {

void configure_mistral(model::ModelConfig& config, WeightFileKind /*kind*/) {
  config.attention_bias = false;
}

std::unique_ptr<Model> create_mistral(const model::ModelConfig& config) {
  return std::make_unique<LlamaModel>(config, AttentionFeatures{false, false});
}

}  // namespace tessera::models
