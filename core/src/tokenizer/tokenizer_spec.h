// In-memory description of a tokenizer, for sources other than tokenizer.json (GGUF files),
// and the mapping from GGUF `tokenizer.ggml.*` metadata (already parsed into plain values) to
// it. A spec describes one of the two supported families completely: the pipeline around the
// BPE model (normalizer, pre-tokenizer, decoder) is derived from the kind, as the GGUF
// converters and llama.cpp assume.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tessera::tokenizer {

class Tokenizer;

enum class TokenizerKind {
  kSentencePieceBpe,  // Llama 2 / Mistral: "▁" for spaces, byte fallback, <unk>
  kByteLevelBpe,      // GPT-2 style byte alphabet: Llama 3, Qwen
};

// GGUF token types (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct TokenizerSpec {
  TokenizerKind kind = TokenizerKind::kByteLevelBpe;
  std::vector<std::string> tokens;     // by id
  std::vector<TokenType> token_types;  // by id; empty = all normal
  // Merges in rank order. When empty and kind is kSentencePieceBpe, merges are derived from
  // `scores` (a higher score merges first), as SentencePiece does.
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<float> scores;
  // kByteLevelBpe: the split patterns (PCRE2 syntax), applied in order, each splitting the
  // pieces of the one before (Split, Isolated), and pipeline options.
  std::vector<std::string> split_regexes;
  // Further splits of the byte-level-mapped pieces (Falcon's files split digits there).
  std::vector<std::string> split_regexes_after_bytes;
  bool nfc = false;
  bool ignore_merges = false;
  // kSentencePieceBpe: prepend "▁" to each text piece (and strip it when decoding).
  bool add_space_prefix = true;

  std::optional<int32_t> bos_id, unk_id, pad_id;
  std::vector<int32_t> eos_ids;
  bool add_bos = false;
  bool add_eos = false;
  std::string chat_template;
};

// tokenizer.ggml.* values. Unset optionals mean the key was absent.
struct GgufTokenizerMetadata {
  std::string model;  // tokenizer.ggml.model: "llama" (SentencePiece BPE) or "gpt2"
  std::string pre;    // tokenizer.ggml.pre: "llama-bpe", "qwen2", "default", ...
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> token_type;
  std::vector<std::string> merges;  // "left right"
  std::optional<int32_t> bos_token_id, eos_token_id, unknown_token_id, padding_token_id;
  std::optional<int32_t> eot_token_id, eom_token_id;
  std::optional<bool> add_bos_token, add_eos_token, add_space_prefix;
  std::optional<std::string> chat_template;
};

// The GGUF tokenizer.ggml.pre names Tessera maps to byte-level pre-tokenizers, in the order
// of the error message that lists them.
const std::vector<std::string>& gguf_pre_tokenizer_names();

// Throws tessera::Error naming the unsupported model or pre-tokenizer, or the inconsistency.
TokenizerSpec spec_from_gguf(const GgufTokenizerMetadata& metadata);
std::unique_ptr<Tokenizer> tokenizer_from_gguf(const GgufTokenizerMetadata& metadata);

}  // namespace tessera::tokenizer
