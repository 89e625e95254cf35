// What distinguishes one decoder-only family from another, as data: which weights exist
// under which names (Hugging Face and GGUF spellings), and which features the forward pass
// switches on. One short builder file per family (llama.cpp, mistral.cpp, qwen2.cpp,
// qwen3.cpp) fills it in; the forward pass (engine/model_runner) is shared.
#pragma once

#include <functional>
#include <string>

#include "model/model_config.h"

namespace tessera::models {

// Per-layer tensors the forward pass needs. kQProj … kDown are linear weights [out, in].
enum class LayerTensor {
  kAttnNorm,
  kQProj,
  kKProj,
  kVProj,
  kOProj,
  kQBias,
  kKBias,
  kVBias,
  kQNorm,
  kKNorm,
  kFfnNorm,
  kGate,
  kUp,
  kDown
};

enum class GlobalTensor { kEmbedding, kFinalNorm, kLmHead };

enum class WeightFileKind { kHuggingFace, kGguf };

struct DecoderSpec {
  model::ModelConfig config;
  bool qkv_bias = false;
  bool qk_norm = false;
  // Name of a tensor in the given file kind; "" when the family has no such tensor.
  std::function<std::string(LayerTensor, int layer, WeightFileKind)> layer_name;
  std::function<std::string(GlobalTensor, WeightFileKind)> global_name;
};

// The standard Llama naming, shared by every family here (they differ in features only).
std::string llama_layer_name(LayerTensor tensor, int layer, WeightFileKind kind);
std::string llama_global_name(GlobalTensor tensor, WeightFileKind kind);

DecoderSpec build_llama(const model::ModelConfig& config);
DecoderSpec build_mistral(const model::ModelConfig& config);
DecoderSpec build_qwen2(const model::ModelConfig& config);
DecoderSpec build_qwen3(const model::ModelConfig& config);

// Dispatches on config.architecture.
DecoderSpec build_decoder_spec(const model::ModelConfig& config);

}  // namespace tessera::models
