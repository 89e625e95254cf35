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

enum class RopeScalingType { kNone, kLinear, kLlama3, kLongRope };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position = 8192;
  // LongRoPE (Phi-3 "longrope", formerly "su"): per-frequency divisors for positions below
  // original_max_position and from it on, head_dim / 2 each, and the cos/sin multiplier.
  std::vector<float> short_factor, long_factor;
  double attention_factor = 1.0;
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
  // Gemma 3's keys, read from any file that has them; the family applies defaults and
  // checks (models/gemma3.cpp). Empty / 0: absent.
  std::optional<double> query_pre_attn_scalar;    // attention scale = its ** -0.5
  std::optional<double> rope_local_theta;         // rope_local_base_freq (sliding layers)
  std::optional<int64_t> sliding_window_pattern;  // every Nth layer global
  std::vector<std::string> layer_types;           // "sliding_attention" / "full_attention"
  std::string hidden_activation;                  // hidden_activation (or hidden_act)
  double final_logit_softcapping = 0.0;
  double attn_logit_softcapping = 0.0;
  double partial_rotary_factor = 1.0;  // the rotated share of head_dim (Phi-3 checks it is 1)
  // Per layer, set by families with local and global layers: true where the layer attends
  // within sliding_window (empty: every layer alike).
  std::vector<bool> sliding_layers;
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
