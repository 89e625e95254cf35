// Qwen3 (Qwen3ForCausalLM): the Llama decoder without q/k/v biases but with an RMSNorm over
// each head of q and k before RoPE (q_norm, k_norm of size head_dim); head_dim is
// independent of hidden_size.
#include "models/llama.h"

namespace tessera::models {

void configure_qwen3(model::ModelConfig& config, WeightFileKind /*kind*/) {
  config.attention_bias = false;
  config.qk_norm = true;
  config.sliding_window = 0;
}

std::unique_ptr<Model> create_qwen3(const model::ModelConfig& config) {
  return std::make_unique<LlamaModel>(config, AttentionFeatures{false, true});
}

}  // namespace tessera::models
