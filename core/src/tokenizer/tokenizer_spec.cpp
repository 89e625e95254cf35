// Building a Tokenizer from a TokenizerSpec, and GGUF metadata -> spec. The pipelines built
// here are the ones the Hugging Face files of the same families specify (see
// tests/data/tokenizers), so both sources tokenize alike.
#include "tokenizer/tokenizer_spec.h"

#include <algorithm>
#include <numeric>

#include "common/check.h"
#include "tessera/tokenizer.h"
#include "tokenizer/tokenizer_parts.h"

namespace tessera::tokenizer {
namespace {

constexpr const char* kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Byte-level split patterns of the GGUF tokenizer.ggml.pre names, as llama.cpp's vocabulary
// loader defines them (the Hugging Face files of the same families split alike; where HF
// writes a step as Digits or Punctuation, the pattern here is the equivalent regex).
constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kDigit = R"(\p{N})";
// BLOOM, Poro, GPT-3-Finnish, Viking: words with their leading space; punctuation alone.
constexpr const char* kBloomPattern = R"( ?[^(\s|.,!?…。，、।۔،)]+)";
constexpr const char* kTekkenPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kGpt4oPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kDeepseekV3Pattern =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct GgufPreTokenizer {
  std::vector<std::string> names;
  std::vector<std::string> regexes;
  bool ignore_merges = false;
  bool nfc = false;
  std::vector<std::string> regexes_after_bytes = {};
};

const std::vector<GgufPreTokenizer>& gguf_pre_tokenizers() {
  static const std::vector<GgufPreTokenizer> table = {
      {{"default", "gpt2", "gpt-2", "mpt", "olmo", "jais", "phi-2", "roberta-bpe", "gigachat",
        "trillion"},
       {kGpt2SplitPattern}},
      {{"llama-bpe", "llama3", "llama-v3", "falcon3", "pixtral"}, {kLlama3Pattern}, true},
      {{"dbrx", "smaug-bpe", "chatglm-bpe"}, {kLlama3Pattern}},
      {{"qwen2", "deepseek-r1-qwen", "megrez"}, {kQwen2Pattern}, false, true},
      {{"stablelm2", "hunyuan"}, {kQwen2Pattern}},
      // HF's SmolLM2 / StarCoder files: Digits(individual_digits) then ByteLevel's GPT-2 split.
      {{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"},
       {kDigit, kGpt2SplitPattern}},
      // Falcon's files split digits after the byte-level mapping, where the bytes 0xB2, 0xB3,
      // 0xB9 and 0xBC-0xBE of multi-byte characters have become the numerals ²³¹¼½¾.
      {{"falcon"},
       {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2SplitPattern},
       false,
       false,
       {R"(\p{N}+)", "[0-9][0-9][0-9]"}},
      {{"bloom", "poro-chat", "gpt3-finnish"}, {kBloomPattern}},
      {{"viking"}, {kBloomPattern, kDigit}},
      {{"tekken"}, {kTekkenPattern}, true},
      {{"gpt-4o"}, {kGpt4oPattern}},
      {{"deepseek-coder"},
       {R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", R"([一-龥ࠀ-一가-퟿]+)", kDigit}},
      {{"deepseek-v3"}, {R"(\p{N}{1,3})", R"([一-龥぀-ゟ゠-ヿ]+)", kDeepseekV3Pattern}},
  };
  return table;
}

TokenType type_at(const TokenizerSpec& spec, size_t id) {
  return spec.token_types.empty() ? TokenType::kNormal : spec.token_types[id];
}

// SentencePiece BPE merges by score: every way of splitting a normal token into two vocabulary
// tokens is a merge, ranked by the token's score (highest first; ties by id).
void add_score_merges(const TokenizerSpec& spec, const Vocab& vocab, BpeModel& model) {
  TSR_CHECK(spec.scores.size() == spec.tokens.size(),
            "tokenizer spec has {} scores for {} tokens; SentencePiece merges need one score per "
            "token",
            spec.scores.size(), spec.tokens.size());
  std::vector<int32_t> order(spec.tokens.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return spec.scores[a] > spec.scores[b]; });
  int32_t rank = 0;
  for (int32_t id : order) {
    if (type_at(spec, id) != TokenType::kNormal) continue;
    const std::string& t = spec.tokens[id];
    bool any = false;
    for (size_t cut = 1; cut < t.size(); ++cut) {
      if ((static_cast<unsigned char>(t[cut]) & 0xC0) == 0x80) continue;  // not a char boundary
      auto l = vocab.find(std::string_view(t).substr(0, cut));
      auto r = vocab.find(std::string_view(t).substr(cut));
      if (l == vocab.end() || r == vocab.end()) continue;
      model.add_merge_ids(l->second, r->second, rank, id);
      any = true;
    }
    if (any) ++rank;
  }
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_spec(const TokenizerSpec& spec) {
  TSR_CHECK(!spec.tokens.empty(), "tokenizer spec has no tokens");
  TSR_CHECK(spec.token_types.empty() || spec.token_types.size() == spec.tokens.size(),
            "tokenizer spec has {} token types for {} tokens", spec.token_types.size(),
            spec.tokens.size());
  const auto n = static_cast<int32_t>(spec.tokens.size());
  auto check_id = [&](const std::optional<int32_t>& id, const char* what) {
    TSR_CHECK(!id || (*id >= 0 && *id < n),
              "tokenizer spec {} id {} is outside the {}-token vocabulary", what, *id, n);
  };
  check_id(spec.bos_id, "bos");
  check_id(spec.unk_id, "unk");
  check_id(spec.pad_id, "pad");
  for (int32_t e : spec.eos_ids) check_id(e, "eos");

  auto parts = std::make_unique<TokenizerParts>();
  Vocab vocab;
  vocab.reserve(spec.tokens.size());
  for (int32_t id = 0; id < n; ++id) {
    const TokenType type = type_at(spec, id);
    if (type == TokenType::kUnknown || type == TokenType::kControl ||
        type == TokenType::kUserDefined) {
      AddedToken a;
      a.id = id;
      a.content = spec.tokens[id];
      a.special = type != TokenType::kUserDefined;
      parts->added_tokens.push_back(std::move(a));
    }
    vocab.try_emplace(spec.tokens[id], id);
  }

  BpeOptions options;
  if (spec.kind == TokenizerKind::kSentencePieceBpe) {
    options.byte_fallback = true;
    options.fuse_unk = true;
    options.unk_id = spec.unk_id;
    std::vector<NormalizerStep> norm;
    if (spec.add_space_prefix) norm.push_back({NormalizerStep::Kind::kPrepend, kSpace, {}});
    norm.push_back({NormalizerStep::Kind::kReplace, " ", kSpace});
    parts->normalizer = Normalizer(std::move(norm));
    parts->decoder.mode = DecoderPlan::Mode::kPieces;
    parts->decoder.replaces = {{kSpace, " "}};
    parts->decoder.byte_fallback = true;
    parts->decoder.strip_start = spec.add_space_prefix ? 1 : 0;
  } else {
    TSR_CHECK(!spec.split_regexes.empty(), "byte-level tokenizer spec has no split pattern");
    options.ignore_merges = spec.ignore_merges;
    if (spec.nfc) parts->normalizer = Normalizer({{NormalizerStep::Kind::kNfc, {}, {}}});
    std::vector<PreTokenizerStep> steps;
    for (const auto& pattern : spec.split_regexes) {
      PreTokenizerStep split;
      split.kind = PreTokenizerStep::Kind::kSplit;
      split.regex = std::make_shared<Regex>(pattern);
      steps.push_back(std::move(split));
    }
    PreTokenizerStep bytes;
    bytes.kind = PreTokenizerStep::Kind::kByteLevel;
    steps.push_back(std::move(bytes));
    for (const auto& pattern : spec.split_regexes_after_bytes) {
      PreTokenizerStep split;
      split.kind = PreTokenizerStep::Kind::kSplit;
      split.regex = std::make_shared<Regex>(pattern);
      steps.push_back(std::move(split));
    }
    parts->pre_tokenizer = PreTokenizer(std::move(steps));
    parts->decoder.mode = DecoderPlan::Mode::kByteLevel;
  }
  parts->model = std::make_unique<BpeModel>(vocab, options);
  if (!spec.merges.empty()) {
    for (const auto& [l, r] : spec.merges) parts->model->add_merge(l, r);
  } else if (spec.kind == TokenizerKind::kSentencePieceBpe) {
    add_score_merges(spec, vocab, *parts->model);
  }

  parts->bos_id = spec.bos_id;
  parts->eos_ids = spec.eos_ids;
  parts->pad_id = spec.pad_id;
  if (spec.bos_id) parts->bos_token = spec.tokens[*spec.bos_id];
  if (!spec.eos_ids.empty()) parts->eos_token = spec.tokens[spec.eos_ids.front()];
  if (spec.pad_id) parts->pad_token = spec.tokens[*spec.pad_id];
  if (spec.add_bos && spec.bos_id) parts->prefix_ids = {*spec.bos_id};
  if (spec.add_eos && !spec.eos_ids.empty()) parts->suffix_ids = {spec.eos_ids.front()};
  parts->chat_template = spec.chat_template;
  return std::make_unique<Tokenizer>(std::move(parts));
}

const std::vector<std::string>& gguf_pre_tokenizer_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& entry : gguf_pre_tokenizers()) {
      out.insert(out.end(), entry.names.begin(), entry.names.end());
    }
    return out;
  }();
  return names;
}

TokenizerSpec spec_from_gguf(const GgufTokenizerMetadata& m) {
  TokenizerSpec spec;
  TSR_CHECK(!m.tokens.empty(), "GGUF tokenizer.ggml.tokens is missing or empty");
  const size_t n = m.tokens.size();
  TSR_CHECK(m.token_type.empty() || m.token_type.size() == n,
            "GGUF tokenizer.ggml.token_type has {} entries for {} tokens", m.token_type.size(), n);
  TSR_CHECK(m.scores.empty() || m.scores.size() == n,
            "GGUF tokenizer.ggml.scores has {} entries for {} tokens", m.scores.size(), n);
  spec.tokens = m.tokens;
  spec.scores = m.scores;
  for (int32_t t : m.token_type) {
    TSR_CHECK(t >= 0 && t <= 6, "GGUF tokenizer.ggml.token_type has unknown type {}", t);
    spec.token_types.push_back(static_cast<TokenType>(t));
  }
  for (const auto& merge : m.merges) {
    const size_t space = merge.find(' ', 1);
    TSR_CHECK(space != std::string::npos, "GGUF merge '{}' is not two tokens separated by a space",
              merge);
    spec.merges.emplace_back(merge.substr(0, space), merge.substr(space + 1));
  }

  if (m.model == "llama") {
    spec.kind = TokenizerKind::kSentencePieceBpe;
    TSR_CHECK(!spec.scores.empty() || !spec.merges.empty(),
              "GGUF SentencePiece tokenizer has neither tokenizer.ggml.scores nor merges");
    spec.add_space_prefix = m.add_space_prefix.value_or(true);
    spec.add_bos = m.add_bos_token.value_or(true);
    spec.add_eos = m.add_eos_token.value_or(false);
  } else if (m.model == "gpt2") {
    spec.kind = TokenizerKind::kByteLevelBpe;
    TSR_CHECK(!spec.merges.empty(), "GGUF byte-level tokenizer has no tokenizer.ggml.merges");
    const std::string pre = m.pre.empty() ? "default" : m.pre;
    const GgufPreTokenizer* found = nullptr;
    for (const auto& entry : gguf_pre_tokenizers()) {
      if (std::find(entry.names.begin(), entry.names.end(), pre) != entry.names.end()) {
        found = &entry;
      }
    }
    TSR_CHECK(found != nullptr, "unsupported GGUF tokenizer.ggml.pre '{}' (supported: {})", m.pre,
              fmt::join(gguf_pre_tokenizer_names(), ", "));
    spec.split_regexes = found->regexes;
    spec.ignore_merges = found->ignore_merges;
    spec.nfc = found->nfc;
    spec.split_regexes_after_bytes = found->regexes_after_bytes;
    spec.add_bos = m.add_bos_token.value_or(false);
    spec.add_eos = m.add_eos_token.value_or(false);
  } else {
    throw Error(fmt::format("unsupported GGUF tokenizer.ggml.model '{}' (supported: llama, gpt2)",
                            m.model));
  }
  spec.bos_id = m.bos_token_id;
  spec.unk_id = m.unknown_token_id;
  spec.pad_id = m.padding_token_id;
  for (const auto& e : {m.eos_token_id, m.eot_token_id, m.eom_token_id}) {
    if (e && std::find(spec.eos_ids.begin(), spec.eos_ids.end(), *e) == spec.eos_ids.end()) {
      spec.eos_ids.push_back(*e);
    }
  }
  spec.chat_template = m.chat_template.value_or("");
  return spec;
}

std::unique_ptr<Tokenizer> tokenizer_from_gguf(const GgufTokenizerMetadata& metadata) {
  return Tokenizer::from_spec(spec_from_gguf(metadata));
}

}  // namespace tessera::tokenizer
