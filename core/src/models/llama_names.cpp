#include <fmt/format.h>

#include "models/decoder_spec.h"

namespace tessera::models {

std::string llama_layer_name(LayerTensor tensor, int layer, WeightFileKind kind) {
  const bool hf = kind == WeightFileKind::kHuggingFace;
  const char* hf_name = "";
  const char* gguf_name = "";
  switch (tensor) {
    case LayerTensor::kAttnNorm:
      hf_name = "input_layernorm.weight";
      gguf_name = "attn_norm.weight";
      break;
    case LayerTensor::kQProj:
      hf_name = "self_attn.q_proj.weight";
      gguf_name = "attn_q.weight";
      break;
    case LayerTensor::kKProj:
      hf_name = "self_attn.k_proj.weight";
      gguf_name = "attn_k.weight";
      break;
    case LayerTensor::kVProj:
      hf_name = "self_attn.v_proj.weight";
      gguf_name = "attn_v.weight";
      break;
    case LayerTensor::kOProj:
      hf_name = "self_attn.o_proj.weight";
      gguf_name = "attn_output.weight";
      break;
    case LayerTensor::kQBias:
      hf_name = "self_attn.q_proj.bias";
      gguf_name = "attn_q.bias";
      break;
    case LayerTensor::kKBias:
      hf_name = "self_attn.k_proj.bias";
      gguf_name = "attn_k.bias";
      break;
    case LayerTensor::kVBias:
      hf_name = "self_attn.v_proj.bias";
      gguf_name = "attn_v.bias";
      break;
    case LayerTensor::kQNorm:
      hf_name = "self_attn.q_norm.weight";
      gguf_name = "attn_q_norm.weight";
      break;
    case LayerTensor::kKNorm:
      hf_name = "self_attn.k_norm.weight";
      gguf_name = "attn_k_norm.weight";
      break;
    case LayerTensor::kFfnNorm:
      hf_name = "post_attention_layernorm.weight";
      gguf_name = "ffn_norm.weight";
      break;
    case LayerTensor::kGate:
      hf_name = "mlp.gate_proj.weight";
      gguf_name = "ffn_gate.weight";
      break;
    case LayerTensor::kUp:
      hf_name = "mlp.up_proj.weight";
      gguf_name = "ffn_up.weight";
      break;
    case LayerTensor::kDown:
      hf_name = "mlp.down_proj.weight";
      gguf_name = "ffn_down.weight";
      break;
  }
  return hf ? fmt::format("model.layers.{}.{}", layer, hf_name)
            : fmt::format("blk.{}.{}", layer, gguf_name);
}

std::string llama_global_name(GlobalTensor tensor, WeightFileKind kind) {
  const bool hf = kind == WeightFileKind::kHuggingFace;
  switch (tensor) {
    case GlobalTensor::kEmbedding:
      return hf ? "model.embed_tokens.weight" : "token_embd.weight";
    case GlobalTensor::kFinalNorm:
      return hf ? "model.norm.weight" : "output_norm.weight";
    case GlobalTensor::kLmHead:
      return hf ? "lm_head.weight" : "output.weight";
  }
  return "";
}

DecoderSpec build_decoder_spec(const model::ModelConfig& config) {
  switch (config.architecture) {
    case model::Architecture::kLlama:
      return build_llama(config);
    case model::Architecture::kMistral:
      return build_mistral(config);
    case model::Architecture::kQwen2:
      return build_qwen2(config);
    case model::Architecture::kQwen3:
      return build_qwen3(config);
  }
  return build_llama(config);
}

}  // namespace tessera::models
