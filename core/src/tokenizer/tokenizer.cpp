// Tokenizer encode/decode and StreamingDecoder; see tokenizer.h. Loading lives in
// tokenizer_json.cpp and tokenizer_spec.cpp.
#include "tessera/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/check.h"
#include "tokenizer/tokenizer_parts.h"
#include "tokenizer/utf8.h"

namespace tessera::tokenizer {

void TokenizerParts::finalize() {
  int32_t max_id = -1;
  for (const auto& [text, id] : model->vocab()) max_id = std::max(max_id, id);
  for (const auto& t : added_tokens) max_id = std::max(max_id, t.id);
  // The tables below are indexed by id: one id far beyond the tokens a file defines would make
  // a few bytes of tokenizer.json allocate gigabytes. Real vocabularies are dense, give or
  // take padding.
  const size_t defined = model->vocab().size() + added_tokens.size();
  TSR_CHECK(max_id < 0 || static_cast<size_t>(max_id) < 2 * defined + 65536,
            "tokenizer: token id {} is far beyond the {} tokens the file defines (ids must be "
            "dense)",
            max_id, defined);
  const auto n = static_cast<size_t>(max_id + 1);
  id_to_token.assign(n, {});
  id_flags.assign(n, 0);
  for (const auto& [text, id] : model->vocab()) {
    id_to_token[id] = text;
    id_flags[id] = kExists;
  }
  std::vector<AddedToken> raw, normalized;
  std::vector<std::string> raw_patterns, normalized_patterns;
  for (const auto& t : added_tokens) {
    id_flags[t.id] = kExists | (t.special ? kSpecial : 0);
    // The reference decodes a normalized added token as its normalized form.
    id_to_token[t.id] = t.normalized ? normalizer.apply(t.content) : t.content;
    if (t.normalized) {
      normalized.push_back(t);
      normalized_patterns.push_back(id_to_token[t.id]);
    } else {
      raw.push_back(t);
      raw_patterns.push_back(t.content);
    }
  }
  // The post-processor's ids come from another part of the file than the vocabulary: an id
  // missing from it would be handed to the model as if it were a token.
  for (const auto* added : {&prefix_ids, &suffix_ids}) {
    for (int32_t id : *added) {
      TSR_CHECK(id >= 0 && static_cast<size_t>(id) < n && id_flags[id] != 0,
                "tokenizer: the post-processor adds token id {}, which is not in the vocabulary",
                id);
    }
  }
  raw_matcher = AddedTokenMatcher(std::move(raw), raw_patterns);
  normalized_matcher = AddedTokenMatcher(std::move(normalized), normalized_patterns);
  pieces.resize(n);
  for (size_t id = 0; id < n; ++id) {
    if (id_flags[id]) pieces[id] = make_decode_piece(decoder, id_to_token[id]);
  }
}

Tokenizer::Tokenizer(std::unique_ptr<TokenizerParts> parts) : parts_(std::move(parts)) {
  parts_->finalize();
}

Tokenizer::~Tokenizer() = default;

namespace {

std::string read_file(const std::filesystem::path& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  TSR_CHECK_KIND(in.good(), ErrorKind::kNotFound, "cannot open {} '{}'", what, path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  TSR_CHECK(!in.bad(), "error reading {} '{}'", what, path.string());
  return ss.str();
}

std::string read_optional(const std::filesystem::path& path, const char* what) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) ? read_file(path, what) : std::string();
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_files(
    const std::filesystem::path& path, const std::optional<std::filesystem::path>& config_path) {
  std::error_code ec;
  TSR_CHECK_KIND(std::filesystem::exists(path, ec), ErrorKind::kNotFound,
                 "tokenizer path '{}' does not exist", path.string());
  const bool is_dir = std::filesystem::is_directory(path, ec);
  const auto json_path = is_dir ? path / "tokenizer.json" : path;
  const auto dir = is_dir ? path : path.parent_path();
  const std::string json = read_file(json_path, "tokenizer file");
  const std::string config = config_path
                                 ? read_file(*config_path, "tokenizer config")
                                 : read_optional(dir / "tokenizer_config.json", "tokenizer config");
  std::string generation = read_optional(dir / "generation_config.json", "generation config");
  auto tok = from_json(json, config, generation, json_path.string());
  if (tok->parts_->chat_template.empty()) {
    // Newer checkpoints keep the template in its own file.
    tok->parts_->chat_template = read_optional(dir / "chat_template.jinja", "chat template");
  }
  return tok;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  const TokenizerParts& p = *parts_;
  size_t bad = 0;
  TSR_CHECK(is_valid_utf8(text, &bad),
            "text to encode is not valid UTF-8 (byte 0x{:02X} at offset {})",
            static_cast<unsigned char>(text[bad]), bad);
  std::vector<int32_t> ids;
  if (options.add_special_tokens) ids = p.prefix_ids;
  std::vector<TextSegment> segments, inner;
  std::vector<std::string> words;
  p.raw_matcher.split(text, options.parse_special, segments);
  for (const auto& seg : segments) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    const std::string normalized = p.normalizer.apply(text.substr(seg.begin, seg.end - seg.begin));
    inner.clear();
    p.normalized_matcher.split(normalized, options.parse_special, inner);
    for (const auto& piece : inner) {
      if (piece.id >= 0) {
        ids.push_back(piece.id);
        continue;
      }
      words.clear();
      p.pre_tokenizer.run(std::string_view(normalized).substr(piece.begin, piece.end - piece.begin),
                          words, seg.begin == 0 && piece.begin == 0);
      for (const auto& w : words) p.model->tokenize(w, ids);
    }
  }
  if (options.add_special_tokens) ids.insert(ids.end(), p.suffix_ids.begin(), p.suffix_ids.end());
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  StreamingDecoder d(*this, skip_special_tokens);
  std::string out;
  for (int32_t id : ids) out += d.step(id);
  out += d.finish();
  return out;
}

int32_t Tokenizer::vocab_size() const {
  return static_cast<int32_t>(parts_->id_to_token.size());
}
std::optional<int32_t> Tokenizer::bos_id() const {
  return parts_->bos_id;
}
const std::vector<int32_t>& Tokenizer::eos_ids() const {
  return parts_->eos_ids;
}
std::optional<int32_t> Tokenizer::pad_id() const {
  return parts_->pad_id;
}
const std::string& Tokenizer::bos_token() const {
  return parts_->bos_token;
}
const std::string& Tokenizer::eos_token() const {
  return parts_->eos_token;
}
const std::string& Tokenizer::pad_token() const {
  return parts_->pad_token;
}
const std::string& Tokenizer::chat_template() const {
  return parts_->chat_template;
}
const std::vector<int32_t>& Tokenizer::prefix_ids() const {
  return parts_->prefix_ids;
}
const std::vector<int32_t>& Tokenizer::suffix_ids() const {
  return parts_->suffix_ids;
}

std::string Tokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return parts_->id_to_token[id];
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && (parts_->id_flags[id] & TokenizerParts::kSpecial);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  for (const auto& t : parts_->added_tokens) {
    if (t.content == token) return t.id;
  }
  return parts_->model->find(token);
}

struct StreamingDecoder::State {
  DecodeState state;
};

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer),
      skip_special_(skip_special_tokens),
      state_(std::make_unique<State>()) {}

StreamingDecoder::~StreamingDecoder() = default;

std::string StreamingDecoder::step(int32_t id) {
  const TokenizerParts& p = *tokenizer_.parts_;
  std::string out;
  if (id < 0 || id >= tokenizer_.vocab_size()) return out;
  const uint8_t flags = p.id_flags[id];
  if (!(flags & TokenizerParts::kExists)) return out;
  if (skip_special_ && (flags & TokenizerParts::kSpecial)) return out;
  state_->state.push(p.decoder, p.pieces[id], out);
  return out;
}

std::string StreamingDecoder::finish() {
  std::string out;
  state_->state.finish(tokenizer_.parts_->decoder, out);
  return out;
}

}  // namespace tessera::tokenizer
