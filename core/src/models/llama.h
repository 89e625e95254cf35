// The Llama decoder (LlamaForCausalLM), which Mistral and Qwen2 reuse, Qwen3 extends with
// per-head q/k norms and Phi-3 loads from fused tensors: pre-norm blocks of RMSNorm, GQA
// self-attention with RoPE, RMSNorm and a SwiGLU MLP; a final RMSNorm and the LM head.
#pragma once

#include <memory>
#include <vector>

#include "models/layers.h"

namespace tessera::models {

class LlamaModel : public Model {
 public:
  LlamaModel(model::ModelConfig config, AttentionFeatures features)
      : Model(std::move(config)), features_(features) {}

  void load(WeightLoader& loader) override;
  void forward(const ForwardContext& ctx) const override;
  bool lm_head_rows(const ForwardContext& ctx) const override;
  std::span<const tsr_op_id> required_ops() const override { return kDecoderOps; }
  const runtime::Weight* gate_up_probe() const override {
    return layers_.empty() ? nullptr : &layers_.front().mlp.gate_up;
  }

 protected:  // Phi-3 keeps this decoder and loads its fused tensors into it
  struct Layer {
    runtime::Buffer attn_norm, ffn_norm;
    AttentionWeights attention;
    GatedMlpWeights mlp;
  };
  AttentionFeatures features_;
  EmbeddingWeights embeddings_;
  std::vector<Layer> layers_;
};

}  // namespace tessera::models
