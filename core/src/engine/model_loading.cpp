#include "engine/model_loading.h"

#include <filesystem>

#include "common/check.h"
#include "model/gguf_file.h"
#include "tessera/tokenizer.h"
#include "tokenizer/tokenizer_spec.h"

namespace tessera::engine {

namespace {

template <class T>
std::optional<T> optional_value(const nlohmann::json& meta, const char* key) {
  if (!meta.contains(key)) return std::nullopt;
  try {
    return meta[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(fmt::format("GGUF metadata '{}' has the wrong type", key));
  }
}

template <class T>
T required_value(const nlohmann::json& meta, const char* key) {
  return *optional_value<T>(meta, key);  // the caller checked that the key is there
}

}  // namespace

std::unique_ptr<tokenizer::Tokenizer> load_tokenizer(const std::string& model_path,
                                                     const std::string& tokenizer_path) {
  namespace fs = std::filesystem;
  if (!tokenizer_path.empty()) return tokenizer::Tokenizer::from_files(tokenizer_path);
  if (fs::is_directory(model_path)) {
    TSR_CHECK_KIND(fs::exists(fs::path(model_path) / "tokenizer.json"), ErrorKind::kNotFound,
                   "{}: no tokenizer.json (pass --tokenizer DIR to use another one)", model_path);
    return tokenizer::Tokenizer::from_files(model_path);
  }
  const model::GgufFile gguf(model_path);
  const auto& meta = gguf.metadata();
  TSR_CHECK(meta.contains("tokenizer.ggml.model") && meta.contains("tokenizer.ggml.tokens"),
            "{}: the GGUF file has no tokenizer (tokenizer.ggml.*); pass --tokenizer DIR",
            model_path);
  tokenizer::GgufTokenizerMetadata m;
  m.model = required_value<std::string>(meta, "tokenizer.ggml.model");
  m.pre = optional_value<std::string>(meta, "tokenizer.ggml.pre").value_or("default");
  m.tokens = required_value<std::vector<std::string>>(meta, "tokenizer.ggml.tokens");
  m.scores = optional_value<std::vector<float>>(meta, "tokenizer.ggml.scores")
                 .value_or(std::vector<float>{});
  m.token_type = optional_value<std::vector<int32_t>>(meta, "tokenizer.ggml.token_type")
                     .value_or(std::vector<int32_t>{});
  m.merges = optional_value<std::vector<std::string>>(meta, "tokenizer.ggml.merges")
                 .value_or(std::vector<std::string>{});
  m.bos_token_id = optional_value<int32_t>(meta, "tokenizer.ggml.bos_token_id");
  m.eos_token_id = optional_value<int32_t>(meta, "tokenizer.ggml.eos_token_id");
  m.unknown_token_id = optional_value<int32_t>(meta, "tokenizer.ggml.unknown_token_id");
  m.padding_token_id = optional_value<int32_t>(meta, "tokenizer.ggml.padding_token_id");
  m.eot_token_id = optional_value<int32_t>(meta, "tokenizer.ggml.eot_token_id");
  m.eom_token_id = optional_value<int32_t>(meta, "tokenizer.ggml.eom_token_id");
  m.add_bos_token = optional_value<bool>(meta, "tokenizer.ggml.add_bos_token");
  m.add_eos_token = optional_value<bool>(meta, "tokenizer.ggml.add_eos_token");
  m.add_space_prefix = optional_value<bool>(meta, "tokenizer.ggml.add_space_prefix");
  m.chat_template = optional_value<std::string>(meta, "tokenizer.chat_template");
  return tokenizer::tokenizer_from_gguf(m);
}

}  // namespace tessera::engine

namespace tessera::tokenizer {

std::unique_ptr<Tokenizer> Tokenizer::for_model(const std::string& model,
                                                const std::string& tokenizer_path) {
  return engine::load_tokenizer(model, tokenizer_path);
}

}  // namespace tessera::tokenizer
