#include "models/registry.h"

#include <fmt/format.h>

#include <filesystem>

#include "common/check.h"
#include "model/gguf_file.h"

namespace tessera::models {

// Each family file defines its pair (llama.cpp, mistral.cpp, qwen2.cpp, qwen3.cpp, gemma3.cpp,
// phi3.cpp).
void configure_llama(model::ModelConfig&, WeightFileKind);
std::unique_ptr<Model> create_llama(const model::ModelConfig&);
void configure_mistral(model::ModelConfig&, WeightFileKind);
std::unique_ptr<Model> create_mistral(const model::ModelConfig&);
void configure_qwen2(model::ModelConfig&, WeightFileKind);
std::unique_ptr<Model> create_qwen2(const model::ModelConfig&);
void configure_qwen3(model::ModelConfig&, WeightFileKind);
std::unique_ptr<Model> create_qwen3(const model::ModelConfig&);
void configure_gemma3(model::ModelConfig&, WeightFileKind);
std::unique_ptr<Model> create_gemma3(const model::ModelConfig&);
void configure_phi3(model::ModelConfig&, WeightFileKind);
std::unique_ptr<Model> create_phi3(const model::ModelConfig&);

namespace {

const Family kFamilies[] = {
    {"LlamaForCausalLM", "llama", configure_llama, create_llama},
    {"MistralForCausalLM", nullptr, configure_mistral, create_mistral},
    {"Qwen2ForCausalLM", "qwen2", configure_qwen2, create_qwen2},
    {"Qwen3ForCausalLM", "qwen3", configure_qwen3, create_qwen3},
    {"Gemma3ForCausalLM", "gemma3", configure_gemma3, create_gemma3},
    {"Phi3ForCausalLM", "phi3", configure_phi3, create_phi3},
};

const Family* find_hf(const std::string& name) {
  for (const auto& family : kFamilies) {
    if (name == family.hf_architecture) return &family;
  }
  return nullptr;
}

std::string supported_list(bool gguf) {
  std::string out;
  for (const auto& family : kFamilies) {
    const char* name = gguf ? family.gguf_architecture : family.hf_architecture;
    if (name == nullptr) continue;
    out += out.empty() ? name : fmt::format(", {}", name);
  }
  return out;
}

const Family& require_hf(const std::string& name, const std::string& source) {
  const Family* family = find_hf(name);
  if (family == nullptr) {
    throw Error(fmt::format("{}: architecture '{}' is not supported (supported: {})", source,
                            name.empty() ? "<none>" : name, supported_list(false)));
  }
  return *family;
}

}  // namespace

std::span<const Family> families() {
  return kFamilies;
}

const Family& family_of(const model::ModelConfig& config) {
  return require_hf(config.architecture_name, "model config");
}

std::unique_ptr<Model> create_model(const model::ModelConfig& config) {
  return family_of(config).create(config);
}

model::ModelConfig parse_hf_config(const std::string& json_text, const std::string& source) {
  const Family* family = nullptr;
  auto config = model::parse_hf_config(
      json_text, source, [&](const std::string& name) { family = &require_hf(name, source); });
  family->configure(config, WeightFileKind::kHuggingFace);
  return config;
}

model::ModelConfig load_hf_config(const std::string& model_dir) {
  const Family* family = nullptr;
  auto config = model::load_hf_config(
      model_dir, [&](const std::string& name) { family = &require_hf(name, model_dir); });
  family->configure(config, WeightFileKind::kHuggingFace);
  return config;
}

model::ModelConfig config_from_gguf(const model::GgufFile& gguf) {
  const std::string arch = gguf.get_string("general.architecture");
  const Family* family = nullptr;
  for (const auto& f : kFamilies) {
    if (f.gguf_architecture != nullptr && arch == f.gguf_architecture) family = &f;
  }
  if (family == nullptr) {
    throw Error(fmt::format("{}: GGUF architecture '{}' is not supported ({})", gguf.path(), arch,
                            supported_list(true)));
  }
  auto config = model::config_from_gguf(gguf);
  config.architecture_name = family->hf_architecture;
  family->configure(config, WeightFileKind::kGguf);
  return config;
}

bool is_gguf_path(const std::string& path) {
  return std::filesystem::is_regular_file(path) && path.size() > 5 &&
         path.substr(path.size() - 5) == ".gguf";
}

model::ModelConfig load_config(const std::string& path) {
  if (is_gguf_path(path)) return models::config_from_gguf(model::GgufFile(path));
  return models::load_hf_config(path);
}

}  // namespace tessera::models
