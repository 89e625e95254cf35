// Public: what Engine::tokenizer() returns, and a tokenizer of its own for tools that need
// one without an engine (bench serve's datasets).
//
// Tokenizer: text <-> token ids for byte-level BPE (Llama 3, Qwen) and SentencePiece-style BPE
// with byte fallback (Llama 2, Mistral), loaded from Hugging Face tokenizer.json (+
// tokenizer_config.json, + generation_config.json when present) or built by the core from an
// in-memory TokenizerSpec (the GGUF path; TokenizerSpec and TokenizerParts are core-internal
// and opaque here). Behaviour matches the reference `tokenizers` library: goldens in
// tests/data/tokenizers. Unsupported pipeline components fail at load with an error naming
// them, never silently.
//
// A Tokenizer is immutable after construction and thread-safe; StreamingDecoder is per request
// and must not outlive its Tokenizer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::tokenizer {

struct TokenizerSpec;
struct TokenizerParts;

struct EncodeOptions {
  // Apply the post-processor (e.g. prepend BOS): what `add_special_tokens=True` does.
  bool add_special_tokens = true;
  // Recognize special-token text (e.g. "<|im_start|>") in the input as the special token. Set
  // false for untrusted user text: it is then encoded as plain text (the reference's
  // `encode_special_tokens` / transformers' `split_special_tokens`). Non-special added tokens
  // are recognized either way.
  bool parse_special = true;
};

class Tokenizer {
 public:
  // `path` is a model directory (tokenizer.json, optional tokenizer_config.json and
  // generation_config.json inside) or a tokenizer.json file (the config files are then looked
  // for next to it unless `config_path` names the tokenizer_config.json).
  static std::unique_ptr<Tokenizer> from_files(
      const std::filesystem::path& path,
      const std::optional<std::filesystem::path>& config_path = std::nullopt);
  // From file contents; `config_json` and `generation_config_json` may be empty. `origin`
  // names the source in error messages.
  static std::unique_ptr<Tokenizer> from_json(std::string_view tokenizer_json,
                                              std::string_view config_json = {},
                                              std::string_view generation_config_json = {},
                                              std::string_view origin = "tokenizer.json");
  static std::unique_ptr<Tokenizer> from_spec(const TokenizerSpec& spec);
  // The tokenizer the engine uses for `model`: a Hugging Face directory's tokenizer.json, or
  // the tokenizer in a .gguf file's metadata; `tokenizer_path` (a directory or tokenizer.json)
  // instead when not empty. Tools that must tokenize as a server will (benchmark datasets)
  // use this, so that a GGUF model needs no separate tokenizer.
  static std::unique_ptr<Tokenizer> for_model(const std::string& model,
                                              const std::string& tokenizer_path = "");

  explicit Tokenizer(std::unique_ptr<TokenizerParts> parts);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Throws tessera::Error when `text` is not valid UTF-8.
  std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options = {}) const;
  // Ids outside the vocabulary are skipped, as the reference does. Invalid byte sequences
  // decode to U+FFFD.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // One past the largest token id (model vocabulary plus added tokens).
  int32_t vocab_size() const;
  std::optional<int32_t> bos_id() const;
  // End-of-sequence ids: tokenizer_config's eos_token first, then generation_config's.
  const std::vector<int32_t>& eos_ids() const;
  std::optional<int32_t> pad_id() const;
  // Token strings from tokenizer_config.json ("" when absent), for chat templates.
  const std::string& bos_token() const;
  const std::string& eos_token() const;
  const std::string& pad_token() const;
  // The raw token string ("" for an id outside the vocabulary).
  std::string token_text(int32_t id) const;
  bool is_special(int32_t id) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // tokenizer_config.json's chat_template ("" when absent); with a list of named templates,
  // the one named "default".
  const std::string& chat_template() const;
  // Ids the post-processor puts around an encoded text when add_special_tokens is true.
  const std::vector<int32_t>& prefix_ids() const;
  const std::vector<int32_t>& suffix_ids() const;

 private:
  friend class StreamingDecoder;
  std::unique_ptr<TokenizerParts> parts_;
};

// Incremental detokenizer: feed ids one at a time, get text deltas. Deltas are always whole
// UTF-8 characters; text that a later token may still change (an unfinished multi-byte
// sequence, a run of byte-fallback tokens) is held back until it is decided. The concatenation
// of all deltas and finish() equals Tokenizer::decode of the same ids.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  ~StreamingDecoder();
  std::string step(int32_t id);
  // Flushes what is held (unfinished sequences become U+FFFD); the decoder can then be reused.
  std::string finish();

 private:
  struct State;
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::unique_ptr<State> state_;
};

}  // namespace tessera::tokenizer
