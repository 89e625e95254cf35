// Qwen3 (Qwen3ForCausalLM): no q/k/v biases, but an RMSNorm over each head of q and k before
// RoPE (q_norm, k_norm of size head_dim); head_dim is independent of hidden_size.
#include "models/decoder_spec.h"

namespace tessera::models {

DecoderSpec build_qwen3(const model::ModelConfig& config) {
  DecoderSpec spec = build_llama(config);
  spec.qkv_bias = false;
  spec.qk_norm = true;
  return spec;
}

}  // namespace tessera::models
