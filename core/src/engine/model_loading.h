// Loading the pieces of a model other than weights: its tokenizer from tokenizer.json (a
// Hugging Face directory) or from GGUF metadata (tokenizer.ggml.*), or from --tokenizer.
#pragma once

#include <memory>
#include <string>

namespace tessera::tokenizer {
class Tokenizer;
}

namespace tessera::engine {

std::unique_ptr<tokenizer::Tokenizer> load_tokenizer(const std::string& model_path,
                                                     const std::string& tokenizer_path);

}  // namespace tessera::engine
