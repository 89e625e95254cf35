// Gemma 3, text only (Gemma3ForCausalLM, model_type gemma3_text; GGUF architecture gemma3).
// The Llama decoder with these differences:
//   - the embedding is multiplied by sqrt(hidden_size), rounded to the activation dtype as
//     Hugging Face does; folded into the embedding table at load (a tied LM head keeps the
//     unscaled table);
//   - every RMSNorm computes x * (1 + w); the 1 is folded into the weights at load. In f32 that
//     is exact (HF adds 1 in f32 too); with bf16/f16 activations the folded weight is rounded
//     once to the activation dtype (at most 2^-9 relative for bf16), which HF keeps in f32;
//     llama.cpp's converter already adds the 1 to every *norm.weight of a GGUF file, so GGUF
//     norms load as they are;
//   - four norms per layer: input, post-attention (on the attention output, before the
//     residual add), pre-feedforward and post-feedforward (on the MLP output, likewise);
//   - q and k normalized per head (q_norm, k_norm), as Qwen3;
//   - attention scale query_pre_attn_scalar ** -0.5;
//   - GeGLU MLP: gelu_tanh(gate) * up (the gelu_tanh_mul op);
//   - local layers attend within sliding_window and rotate with rope_local_base_freq, global
//     ones (every sliding_window_pattern-th, or as layer_types lists) attend to everything and
//     rotate with rope_theta and rope_scaling;
//   - the LM head is the embedding (tied).
// GGUF files carry neither the pattern, the local rope base nor query_pre_attn_scalar:
// llama.cpp fixes them (pattern 6, base 10000, scale head_dim ** -0.5 but
// (hidden / heads) ** -0.5 for the 62-layer 27B), and so does configure_gemma3.
#include <fmt/format.h>

#include <cmath>

#include "common/check.h"
#include "models/layers.h"
#include "models/registry.h"
#include "tessera/plugin.hpp"

namespace tessera::models {

namespace {

const TensorName kInputNorm{"input_layernorm.weight", "attn_norm.weight"};
const TensorName kPostAttentionNorm{"post_attention_layernorm.weight",
                                    "post_attention_norm.weight"};
const TensorName kPreFeedforwardNorm{"pre_feedforward_layernorm.weight", "ffn_norm.weight"};
const TensorName kPostFeedforwardNorm{"post_feedforward_layernorm.weight", "post_ffw_norm.weight"};

// llama.cpp's values for what Gemma 3 GGUF files leave out (llama-model.cpp, LLM_ARCH_GEMMA3).
constexpr int64_t kGgufSlidingWindowPattern = 6;
constexpr double kGgufLocalRopeTheta = 10000.0;
constexpr int64_t kGemma3_27bLayers = 62;

// Hugging Face's Gemma3TextConfig defaults, for configs that leave a key out.
constexpr double kDefaultQueryPreAttnScalar = 256.0;
constexpr double kDefaultLocalRopeTheta = 10000.0;
constexpr int64_t kDefaultSlidingWindowPattern = 6;

class Gemma3Model : public Model {
 public:
  explicit Gemma3Model(model::ModelConfig config) : Model(std::move(config)) {}

  void load(WeightLoader& loader) override;
  void forward(const ForwardContext& ctx) const override;
  // forward() leaves every token's final-normed state in act.normed (prompt logprobs).
  bool lm_head_rows(const ForwardContext& ctx) const override {
    logits(ctx, config_, embeddings_.lm_head);
    return true;
  }
  std::span<const tsr_op_id> required_ops() const override { return kGegluDecoderOps; }
  const runtime::Weight* gate_up_probe() const override {
    return layers_.empty() ? nullptr : &layers_.front().mlp.gate_up;
  }

 private:
  struct Layer {
    runtime::Buffer input_norm, post_attention_norm, pre_feedforward_norm, post_feedforward_norm;
    AttentionWeights attention;
    GatedMlpWeights mlp;
    AttentionLayerParams params;
  };
  EmbeddingWeights embeddings_;
  std::vector<Layer> layers_;
};

float round_to_dtype(float value, tsr_dtype dtype) {
  if (dtype == TSR_DTYPE_BF16) return tsr::sdk::bf16_to_f32(tsr::sdk::f32_to_bf16(value));
  if (dtype == TSR_DTYPE_F16) return tsr::sdk::f16_to_f32(tsr::sdk::f32_to_f16(value));
  return value;
}

// The attention settings of one layer: local layers their window and rope base (without
// rope scaling, as HF's local rotary embedding), global ones the config's.
AttentionLayerParams layer_params(const model::ModelConfig& cfg, int layer) {
  AttentionLayerParams p = default_attention_params(cfg);
  p.scale = 1.0 / std::sqrt(cfg.query_pre_attn_scalar.value_or(kDefaultQueryPreAttnScalar));
  p.logit_softcap = cfg.attn_logit_softcapping;
  if (cfg.sliding_layers.at(static_cast<size_t>(layer))) {
    p.rope_theta = cfg.rope_local_theta.value_or(kDefaultLocalRopeTheta);
    p.rope_scaling = nullptr;
  } else {
    p.sliding_window = 0;
  }
  return p;
}

void Gemma3Model::load(WeightLoader& loader) {
  const auto& cfg = config_;
  // GGUF norms already hold 1 + w (llama.cpp's converter); HF ones hold w.
  const float offset = loader.kind() == WeightFileKind::kGguf ? 0.0f : 1.0f;
  const ValueMap norm_map{1.0f, offset};
  // HF multiplies by the normalizer after rounding it to the activation dtype.
  const float normalizer = round_to_dtype(
      static_cast<float>(std::sqrt(static_cast<double>(cfg.hidden_size))), loader.dtype());
  load_embedding_table(loader, cfg, kLlamaEmbeddingNames, embeddings_, ValueMap{normalizer, 0.0f});
  for (int layer = 0; layer < cfg.num_layers; ++layer) {
    Layer l;
    l.input_norm = load_norm(loader, kInputNorm, layer, cfg.hidden_size, norm_map);
    l.post_attention_norm = load_norm(loader, kPostAttentionNorm, layer, cfg.hidden_size, norm_map);
    l.pre_feedforward_norm =
        load_norm(loader, kPreFeedforwardNorm, layer, cfg.hidden_size, norm_map);
    l.post_feedforward_norm =
        load_norm(loader, kPostFeedforwardNorm, layer, cfg.hidden_size, norm_map);
    l.attention = load_attention(loader, cfg, layer, kLlamaAttentionNames,
                                 AttentionFeatures{false, true, offset});
    l.mlp = load_gated_mlp(loader, cfg, layer, kLlamaMlpNames);
    l.params = layer_params(cfg, layer);
    layers_.push_back(std::move(l));
  }
  load_output(loader, cfg, kLlamaEmbeddingNames, embeddings_, norm_map);
}

void Gemma3Model::forward(const ForwardContext& ctx) const {
  const auto& cfg = config_;
  Activations& a = ctx.act;
  const int64_t t = ctx.shape.tokens;
  const int64_t h = cfg.hidden_size;
  const double eps = cfg.rms_norm_eps;
  embed(ctx, cfg, embeddings_.table);
  // a.hidden is the residual stream. Each layer leaves its post-feedforward-normed MLP output
  // in a.o_out, which the next norm adds into the stream first.
  for (size_t layer = 0; layer < layers_.size(); ++layer) {
    const Layer& l = layers_[layer];
    if (layer == 0) {
      rms_norm(ctx, a.hidden, nullptr, l.input_norm, a.normed, t, h, eps);
    } else {
      rms_norm(ctx, a.o_out, &a.hidden, l.input_norm, a.normed, t, h, eps);
    }
    attention_block(ctx, cfg, static_cast<int>(layer), l.attention, l.params);
    rms_norm(ctx, a.o_out, nullptr, l.post_attention_norm, a.mlp_out, t, h, eps);
    rms_norm(ctx, a.mlp_out, &a.hidden, l.pre_feedforward_norm, a.normed, t, h, eps);
    gated_mlp(ctx, cfg, l.mlp, GateActivation::kGeluTanh);
    rms_norm(ctx, a.mlp_out, nullptr, l.post_feedforward_norm, a.o_out, t, h, eps);
  }
  rms_norm(ctx, a.o_out, &a.hidden, embeddings_.final_norm, a.normed, t, h, eps);
  logits(ctx, cfg, embeddings_.lm_head);
}

// Which layers are local: layer_types when the config lists them, else every layer but each
// pattern-th (HF: layer i is global when (i + 1) % pattern == 0).
std::vector<bool> sliding_layers(const model::ModelConfig& config, int64_t pattern) {
  std::vector<bool> sliding;
  if (!config.layer_types.empty()) {
    TSR_CHECK(static_cast<int64_t>(config.layer_types.size()) == config.num_layers,
              "Gemma 3 config: 'layer_types' lists {} layers but num_hidden_layers is {}",
              config.layer_types.size(), config.num_layers);
    for (const auto& type : config.layer_types) {
      TSR_CHECK(type == "sliding_attention" || type == "full_attention",
                "Gemma 3 config: 'layer_types' entry '{}' is neither 'sliding_attention' nor "
                "'full_attention'",
                type);
      sliding.push_back(type == "sliding_attention");
    }
    return sliding;
  }
  TSR_CHECK(pattern >= 1, "Gemma 3 config: 'sliding_window_pattern' must be >= 1, got {}", pattern);
  for (int64_t i = 0; i < config.num_layers; ++i) sliding.push_back((i + 1) % pattern != 0);
  return sliding;
}

}  // namespace

void configure_gemma3(model::ModelConfig& config, WeightFileKind kind) {
  config.attention_bias = false;
  config.qk_norm = true;
  // Gemma ties its LM head to the embedding; HF configs often leave the default unstated.
  config.tie_word_embeddings = true;
  const std::string act =
      config.hidden_activation.empty() ? "gelu_pytorch_tanh" : config.hidden_activation;
  TSR_CHECK(act == "gelu_pytorch_tanh" || act == "gelu_tanh",
            "Gemma 3 config: 'hidden_activation' '{}' is not supported (gelu_pytorch_tanh)", act);
  TSR_CHECK(config.final_logit_softcapping == 0.0,
            "Gemma 3 config: 'final_logit_softcapping' {} is not supported (Gemma 3 sets null)",
            config.final_logit_softcapping);
  TSR_CHECK(config.attn_logit_softcapping >= 0.0,
            "Gemma 3 config: 'attn_logit_softcapping' must be >= 0 or null");
  int64_t pattern = config.sliding_window_pattern.value_or(kDefaultSlidingWindowPattern);
  if (kind == WeightFileKind::kGguf) {
    pattern = config.sliding_window_pattern.value_or(kGgufSlidingWindowPattern);
    config.rope_local_theta = kGgufLocalRopeTheta;
    config.query_pre_attn_scalar = config.num_layers == kGemma3_27bLayers
                                       ? static_cast<double>(config.hidden_size / config.num_heads)
                                       : static_cast<double>(config.head_dim);
    // llama.cpp's Gemma 3 file without a window has no local layers.
    if (config.sliding_window <= 0) pattern = 1;
  }
  TSR_CHECK(config.query_pre_attn_scalar.value_or(kDefaultQueryPreAttnScalar) > 0,
            "Gemma 3 config: 'query_pre_attn_scalar' must be > 0");
  TSR_CHECK(config.rope_local_theta.value_or(kDefaultLocalRopeTheta) > 0,
            "Gemma 3 config: 'rope_local_base_freq' must be > 0");
  config.sliding_layers = sliding_layers(config, pattern);
  bool any_sliding = false;
  for (bool s : config.sliding_layers) any_sliding |= s;
  TSR_CHECK(!any_sliding || config.sliding_window > 0,
            "Gemma 3 config: 'sliding_window' must be a positive integer (it has local layers)");
  config.rope_neox_style = true;  // llama.cpp's gemma3 rotates halves and permutes nothing
}

std::unique_ptr<Model> create_gemma3(const model::ModelConfig& config) {
  return std::make_unique<Gemma3Model>(config);
}

}  // namespace tessera::models
