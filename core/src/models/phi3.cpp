// Phi-3 (Phi3ForCausalLM; GGUF architecture phi3): the Llama decoder with
//   - q, k and v fused in one qkv_proj ([q | k | v] rows; GGUF attn_qkv): loaded whole where
//     the device splits a linear's output into dense q, k and v (out_parts, ABI 1.3), else as
//     three row ranges of it;
//   - gate and up fused in one gate_up_proj ([gate | up] rows; GGUF ffn_up holds the same
//     fused tensor): loaded whole, which is the single GEMM the gated MLP runs anyway;
//   - LongRoPE ("longrope", formerly "su") rope scaling: per-frequency short and long
//     divisors and an attention factor on cos/sin (the rope op's LONGROPE, ABI 1.2). The op
//     takes the long factors for tokens at positions >= original_max_position_embeddings;
//     Hugging Face switches all positions of a forward pass once the sequence is longer, so
//     the two agree for prompts within the original context and for every decoded token;
//   - an optional sliding window (config.sliding_window), as Mistral.
// Rotary embedding over all of head_dim (partial_rotary_factor other than 1 is refused), on
// rotate-half pairs: llama.cpp's phi3 is a NEOX-rope architecture and permutes nothing.
#include "common/check.h"
#include "models/llama.h"

namespace tessera::models {

namespace {

const TensorName kQkv{"self_attn.qkv_proj.weight", "attn_qkv.weight"};
const TensorName kOutput{"self_attn.o_proj.weight", "attn_output.weight"};
const TensorName kGateUp{"mlp.gate_up_proj.weight", "ffn_up.weight"};
const TensorName kDown{"mlp.down_proj.weight", "ffn_down.weight"};

// The Llama decoder (forward, prompt-logprob LM head) with Phi-3's fused tensors loaded into it.
class Phi3Model : public LlamaModel {
 public:
  explicit Phi3Model(model::ModelConfig config)
      : LlamaModel(std::move(config), AttentionFeatures{false, false}) {}
  void load(WeightLoader& loader) override;
};

void Phi3Model::load(WeightLoader& loader) {
  const auto& cfg = config_;
  load_embedding_table(loader, cfg, kLlamaEmbeddingNames, embeddings_);
  for (int layer = 0; layer < cfg.num_layers; ++layer) {
    Layer l;
    l.attn_norm = load_norm(loader, kLlamaAttnNorm, layer, cfg.hidden_size);
    l.ffn_norm = load_norm(loader, kLlamaFfnNorm, layer, cfg.hidden_size);
    l.attention = load_fused_qkv_attention(loader, cfg, layer, kQkv, kOutput);
    l.mlp = load_fused_gated_mlp(loader, cfg, layer, kGateUp, kDown);
    layers_.push_back(std::move(l));
  }
  load_output(loader, cfg, kLlamaEmbeddingNames, embeddings_);
}

}  // namespace

void configure_phi3(model::ModelConfig& config, WeightFileKind /*kind*/) {
  config.attention_bias = false;
  config.qk_norm = false;
  config.rope_neox_style = true;
  TSR_CHECK(config.partial_rotary_factor == 1.0,
            "Phi-3 config: 'partial_rotary_factor' {} is not supported (1.0: rope over all of "
            "head_dim)",
            config.partial_rotary_factor);
  TSR_CHECK(config.hidden_activation.empty() || config.hidden_activation == "silu",
            "Phi-3 config: 'hidden_act' '{}' is not supported (silu)", config.hidden_activation);
}

std::unique_ptr<Model> create_phi3(const model::ModelConfig& config) {
  return std::make_unique<Phi3Model>(config);
}

}  // namespace tessera::models
