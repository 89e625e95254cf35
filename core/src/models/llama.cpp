// Llama 2, 3 and 3.1 (LlamaForCausalLM): RMSNorm, RoPE (Llama 3.1 frequency scaling comes
// from the config), GQA attention (q/k/v biases when the config sets attention_bias),
// SwiGLU MLP. llama.cpp's converter permutes the q/k rows of GGUF llama files for
// interleaved rotary pairs, hence non-neox RoPE for them.
#include "models/llama.h"

namespace tessera::models {

void LlamaModel::load(WeightLoader& loader) {
  const auto& cfg = config_;
  load_embedding_table(loader, cfg, kLlamaEmbeddingNames, embeddings_);
  for (int layer = 0; layer < cfg.num_layers; ++layer) {
    Layer l;
    l.attn_norm = load_norm(loader, kLlamaAttnNorm, layer, cfg.hidden_size);
    l.ffn_norm = load_norm(loader, kLlamaFfnNorm, layer, cfg.hidden_size);
    l.attention = load_attention(loader, cfg, layer, kLlamaAttentionNames, features_);
    l.mlp = load_gated_mlp(loader, cfg, layer, kLlamaMlpNames);
    layers_.push_back(std::move(l));
  }
  load_output(loader, cfg, kLlamaEmbeddingNames, embeddings_);
}

void LlamaModel::forward(const ForwardContext& ctx) const {
  const auto& cfg = config_;
  Activations& a = ctx.act;
  const int64_t t = ctx.shape.tokens;
  const int64_t h = cfg.hidden_size;
  const double eps = cfg.rms_norm_eps;
  embed(ctx, cfg, embeddings_.table);
  for (size_t layer = 0; layer < layers_.size(); ++layer) {
    const Layer& l = layers_[layer];
    // a.hidden is the residual stream; the first layer normalizes it directly, later ones
    // first add the previous MLP output into it.
    if (layer == 0) {
      rms_norm(ctx, a.hidden, nullptr, l.attn_norm, a.normed, t, h, eps);
    } else {
      rms_norm(ctx, a.mlp_out, &a.hidden, l.attn_norm, a.normed, t, h, eps);
    }
    attention_block(ctx, cfg, static_cast<int>(layer), l.attention);
    rms_norm(ctx, a.o_out, &a.hidden, l.ffn_norm, a.normed, t, h, eps);
    swiglu_mlp(ctx, cfg, l.mlp);
  }
  rms_norm(ctx, a.mlp_out, &a.hidden, embeddings_.final_norm, a.normed, t, h, eps);
  logits(ctx, cfg, embeddings_.lm_head);
}

bool LlamaModel::lm_head_rows(const ForwardContext& ctx) const {
  logits(ctx, config_, embeddings_.lm_head);
  return true;
}

void configure_llama(model::ModelConfig& config, WeightFileKind kind) {
  config.sliding_window = 0;
  if (kind == WeightFileKind::kGguf) config.rope_neox_style = false;
}

std::unique_ptr<Model> create_llama(const model::ModelConfig& config) {
  return std::make_unique<LlamaModel>(config, AttentionFeatures{config.attention_bias, false});
}

}  // namespace tessera::models
