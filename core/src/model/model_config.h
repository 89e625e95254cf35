// The architecture hyper-parameters of a decoder-only model, read from a Hugging Face
// config.json (+ generation_config.json) or from GGUF metadata, and validated: a config the
// engine cannot run is rejected here with a message naming the field. These parsers are
// generic: which architectures exist, and what each implies beyond its file, is the model
// registry's (models/registry.h), whose readers wrap these.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tessera::model {

class GgufFile;

enum class RopeScalingType { kNone, kLinear, kLlama3 };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position = 8192;
};

struct GenerationDefaults {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  std::optional<double> repetition_penalty;
};

struct ModelConfig {
  // The Hugging Face name ("LlamaForCausalLM", …), also for GGUF files (set by the registry).
  std::string architecture_name;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // bias on q/k/v projections (Qwen2)
  bool qk_norm = false;         // RMSNorm on q and k per head (Qwen3)
  int64_t sliding_window = 0;   // 0: full attention (families without one reset it)
  // GGUF llama-family files store q/k rows permuted for interleaved rotary pairs.
  bool rope_neox_style = true;
  std::string torch_dtype = "float32";
  std::optional<int32_t> bos_token_id;
  std::vector<int32_t> eos_token_ids;
  GenerationDefaults generation;

  // Parameters and their bytes at `bytes_per_param` (embedding and lm_head counted once
  // when tied).
  int64_t parameter_count() const;
};

// Called with the architecture name as soon as it is read, before any other field: the
// registry refuses unsupported architectures there, ahead of errors about their fields.
using ArchitectureCheck = std::function<void(const std::string& architecture)>;

// Reads <dir>/config.json and, when present, <dir>/generation_config.json.
ModelConfig load_hf_config(const std::string& model_dir, const ArchitectureCheck& check = {});
// Parses a config.json text (for tests and `tessera plan` on a bare config file).
ModelConfig parse_hf_config(const std::string& json_text, const std::string& source,
                            const ArchitectureCheck& check = {});
// Keys are read under the file's general.architecture prefix; architecture_name stays empty.
ModelConfig config_from_gguf(const GgufFile& gguf);

}  // namespace tessera::model
