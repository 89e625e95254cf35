// The model registry: one table maps a Hugging Face architecture name (config.json
// "architectures") and a GGUF "general.architecture" to the family that runs it. A family
// contributes two functions: configure() applies what the family implies to the generic
// config parsed from the file (flags no file states, e.g. Qwen2's q/k/v biases), create()
// makes its Model. Configs are read through here so that an unsupported architecture is
// refused first, naming the supported ones.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "models/model.h"

namespace tessera::model {
class GgufFile;
}

namespace tessera::models {

struct Family {
  const char* hf_architecture;    // "LlamaForCausalLM"
  const char* gguf_architecture;  // "llama"; nullptr when GGUF files say another family
  void (*configure)(model::ModelConfig& config, WeightFileKind kind);
  std::unique_ptr<Model> (*create)(const model::ModelConfig& config);
};

std::span<const Family> families();
// The family of a config read through this registry (by architecture_name).
const Family& family_of(const model::ModelConfig& config);
std::unique_ptr<Model> create_model(const model::ModelConfig& config);

// Config readers: model/model_config's generic parsers, with the family checked and applied.
model::ModelConfig parse_hf_config(const std::string& json_text, const std::string& source);
model::ModelConfig load_hf_config(const std::string& model_dir);
model::ModelConfig config_from_gguf(const model::GgufFile& gguf);
bool is_gguf_path(const std::string& path);
// A Hugging Face model directory or a .gguf file; reads no weights.
model::ModelConfig load_config(const std::string& path);

}  // namespace tessera::models
