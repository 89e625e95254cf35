// Loading a tokenizer from Hugging Face tokenizer.json / tokenizer_config.json /
// generation_config.json. Every component type this file does not know is rejected with an
// error naming it and the supported ones, rather than guessed at.
#include <nlohmann/json.hpp>

#include "common/check.h"
#include "tessera/tokenizer.h"
#include "tokenizer/tokenizer_parts.h"

namespace tessera::tokenizer {
namespace {

using nlohmann::json;

// Rust regex's Unicode \w, which the reference's Whitespace pre-tokenizer uses.
constexpr const char* kWordClass = R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control})";
// The reference's punctuation test: ASCII punctuation or a Unicode P category.
constexpr const char* kPunctuationClass = R"([\p{P}!-/:-@\[-`{-~])";

class Loader {
 public:
  explicit Loader(std::string_view origin) : origin_(origin) {}

  json parse(std::string_view text, std::string_view what) const {
    try {
      return json::parse(text);
    } catch (const json::exception& e) {
      throw Error(fmt::format("{}: {} is not valid JSON: {}", origin_, what, e.what()));
    }
  }

  [[noreturn]] void fail(const std::string& message) const {
    throw Error(fmt::format("{}: {}", origin_, message));
  }

  const json& member(const json& obj, const char* key, const char* where) const {
    if (!obj.is_object() || !obj.contains(key)) fail(fmt::format("{} has no '{}'", where, key));
    return obj.at(key);
  }

  // A token id: an integer in 0..INT32_MAX. Checked before converting, since a float beyond
  // the integer's range is undefined behaviour to convert (a fuzzed added token had one).
  int32_t token_id(const json& id, const std::string& what) const {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      fail(fmt::format("{} has an invalid id", what));
    }
    return id.get<int32_t>();
  }

  std::string type_of(const json& obj, const char* where) const {
    const json& t = member(obj, "type", where);
    if (!t.is_string()) fail(fmt::format("{} 'type' is not a string", where));
    return t.get<std::string>();
  }

  bool flag(const json& obj, const char* key, bool fallback) const {
    if (!obj.contains(key) || obj.at(key).is_null()) return fallback;
    if (!obj.at(key).is_boolean()) fail(fmt::format("'{}' must be true or false", key));
    return obj.at(key).get<bool>();
  }

  std::string literal_pattern(const json& pattern, const char* where) const {
    if (pattern.is_object() && pattern.contains("String")) return pattern["String"];
    fail(fmt::format("{} with a Regex pattern is not supported (only a literal String)", where));
  }

  void normalizer(const json& n, std::vector<NormalizerStep>& steps) const {
    if (n.is_null()) return;
    const std::string type = type_of(n, "normalizer");
    if (type == "Sequence") {
      for (const auto& child : member(n, "normalizers", "Sequence normalizer")) {
        normalizer(child, steps);
      }
    } else if (type == "NFC") {
      steps.push_back({NormalizerStep::Kind::kNfc, {}, {}});
    } else if (type == "NFD") {
      steps.push_back({NormalizerStep::Kind::kNfd, {}, {}});
    } else if (type == "NFKC") {
      steps.push_back({NormalizerStep::Kind::kNfkc, {}, {}});
    } else if (type == "NFKD") {
      steps.push_back({NormalizerStep::Kind::kNfkd, {}, {}});
    } else if (type == "Prepend") {
      steps.push_back(
          {NormalizerStep::Kind::kPrepend, member(n, "prepend", "Prepend normalizer"), {}});
    } else if (type == "Replace") {
      const json& pattern = member(n, "pattern", "Replace normalizer");
      NormalizerStep step{NormalizerStep::Kind::kReplace, {}, {}};
      step.replacement = member(n, "content", "Replace normalizer");
      if (pattern.is_object() && pattern.contains("Regex")) {
        step.regex = std::make_shared<Regex>(pattern["Regex"].get<std::string>());
      } else {
        step.text = literal_pattern(pattern, "Replace normalizer");
      }
      steps.push_back(std::move(step));
    } else if (type == "Strip") {
      std::string sides;
      if (flag(n, "strip_left", true)) sides += 'l';
      if (flag(n, "strip_right", true)) sides += 'r';
      steps.push_back({NormalizerStep::Kind::kStrip, sides, {}});
    } else if (type == "Lowercase") {
      steps.push_back({NormalizerStep::Kind::kLowercase, {}, {}});
    } else if (type == "StripAccents") {
      steps.push_back({NormalizerStep::Kind::kStripAccents, {}, {}});
    } else {
      fail(
          fmt::format("unsupported normalizer type '{}' (supported: Sequence, NFC, NFD, NFKC, "
                      "NFKD, Prepend, Replace, Strip, Lowercase, StripAccents)",
                      type));
    }
  }

  // Strip's start/stop: a character count. Checked before converting, since a float beyond
  // the integer's range is undefined behaviour to convert (a fuzzed file had 1.2e20).
  size_t strip_count(const json& value) const {
    if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<int64_t>() >= 0)) {
      fail("Strip decoder 'start' and 'stop' must be non-negative integers");
    }
    return value.get<size_t>();
  }

  void pre_tokenizer(const json& p, std::vector<PreTokenizerStep>& steps) const {
    if (p.is_null()) return;
    const std::string type = type_of(p, "pre_tokenizer");
    if (type == "Sequence") {
      for (const auto& child : member(p, "pretokenizers", "Sequence pre_tokenizer")) {
        pre_tokenizer(child, steps);
      }
    } else if (type == "Split") {
      PreTokenizerStep step;
      step.kind = PreTokenizerStep::Kind::kSplit;
      const json& pattern = member(p, "pattern", "Split pre_tokenizer");
      std::string regex;
      if (pattern.is_object() && pattern.contains("Regex")) {
        regex = pattern["Regex"];
      } else if (pattern.is_object() && pattern.contains("String")) {
        regex = "\\Q" + pattern["String"].get<std::string>() + "\\E";
      } else {
        fail("Split pre_tokenizer pattern must be {\"Regex\": ...} or {\"String\": ...}");
      }
      step.regex = std::make_shared<Regex>(regex);
      step.behavior = split_behavior(member(p, "behavior", "Split pre_tokenizer"));
      step.invert = flag(p, "invert", false);
      steps.push_back(std::move(step));
    } else if (type == "ByteLevel") {
      PreTokenizerStep step;
      step.kind = PreTokenizerStep::Kind::kByteLevel;
      step.add_prefix_space = flag(p, "add_prefix_space", true);
      step.use_regex = flag(p, "use_regex", true);
      steps.push_back(std::move(step));
    } else if (type == "Digits") {
      // Rust's char::is_numeric is the Unicode N categories.
      steps.push_back(split_step(flag(p, "individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)",
                                 SplitBehavior::kIsolated));
    } else if (type == "Whitespace") {
      // The reference keeps the matches of \w+|[^\w\s]+ (Rust regex's Unicode \w and \s).
      PreTokenizerStep step =
          split_step("[" + std::string(kWordClass) + "]+|[^" + kWordClass + R"(\p{White_Space}]+)",
                     SplitBehavior::kRemoved);
      step.invert = true;
      steps.push_back(std::move(step));
    } else if (type == "WhitespaceSplit") {
      steps.push_back(split_step(R"(\p{White_Space})", SplitBehavior::kRemoved));
    } else if (type == "Punctuation") {
      const std::string behavior = p.value("behavior", std::string("Isolated"));
      if (behavior == "Contiguous") {
        steps.push_back(split_step(std::string(kPunctuationClass) + "+", SplitBehavior::kIsolated));
      } else {
        steps.push_back(split_step(kPunctuationClass, split_behavior(behavior)));
      }
    } else if (type == "BertPreTokenizer") {
      steps.push_back(split_step(R"(\p{White_Space})", SplitBehavior::kRemoved));
      steps.push_back(split_step(kPunctuationClass, SplitBehavior::kIsolated));
    } else if (type == "CharDelimiterSplit") {
      const std::string delimiter = member(p, "delimiter", "CharDelimiterSplit pre_tokenizer");
      steps.push_back(split_step("\\Q" + delimiter + "\\E", SplitBehavior::kRemoved));
    } else if (type == "Metaspace") {
      PreTokenizerStep step;
      step.kind = PreTokenizerStep::Kind::kMetaspace;
      step.replacement = member(p, "replacement", "Metaspace pre_tokenizer");
      step.prepend = prepend_scheme(p);
      step.metaspace_split = flag(p, "split", true);
      steps.push_back(std::move(step));
    } else {
      fail(
          fmt::format("unsupported pre_tokenizer type '{}' (supported: Sequence, Split, "
                      "ByteLevel, Digits, Whitespace, WhitespaceSplit, Punctuation, "
                      "BertPreTokenizer, CharDelimiterSplit, Metaspace)",
                      type));
    }
  }

  // Metaspace's prepend_scheme; files older than the key say add_prefix_space instead.
  PrependScheme prepend_scheme(const json& m) const {
    if (m.contains("prepend_scheme") && m["prepend_scheme"].is_string()) {
      const std::string scheme = m["prepend_scheme"];
      if (scheme == "always") return PrependScheme::kAlways;
      if (scheme == "first") return PrependScheme::kFirst;
      if (scheme == "never") return PrependScheme::kNever;
      fail(fmt::format("unsupported Metaspace prepend_scheme '{}' (always, first, never)", scheme));
    }
    return flag(m, "add_prefix_space", true) ? PrependScheme::kAlways : PrependScheme::kNever;
  }

  SplitBehavior split_behavior(const std::string& behavior) const {
    if (behavior == "Isolated") return SplitBehavior::kIsolated;
    if (behavior == "Removed") return SplitBehavior::kRemoved;
    if (behavior == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
    if (behavior == "MergedWithNext") return SplitBehavior::kMergedWithNext;
    fail(
        fmt::format("unsupported Split behavior '{}' (supported: Isolated, Removed, "
                    "MergedWithPrevious, MergedWithNext)",
                    behavior));
  }

  static PreTokenizerStep split_step(const std::string& regex, SplitBehavior behavior) {
    PreTokenizerStep step;
    step.kind = PreTokenizerStep::Kind::kSplit;
    step.regex = std::make_shared<Regex>(regex);
    step.behavior = behavior;
    return step;
  }

  std::unique_ptr<BpeModel> model(const json& m) const {
    const std::string type = m.contains("type") ? type_of(m, "model") : std::string("BPE");
    if (type != "BPE") {
      fail(fmt::format("unsupported model type '{}' (supported: BPE)", type));
    }
    const json& vocab_json = member(m, "vocab", "model");
    if (!vocab_json.is_object()) fail("model 'vocab' must be an object of token -> id");
    if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"].get<double>() != 0.0) {
      fail("BPE dropout is not supported");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (m.contains(key) && !m[key].is_null() && !m[key].get<std::string>().empty()) {
        fail(fmt::format("BPE '{}' is not supported", key));
      }
    }
    Vocab vocab;
    vocab.reserve(vocab_json.size());
    for (const auto& [token, id] : vocab_json.items()) {
      vocab.emplace(token, token_id(id, fmt::format("vocab entry '{}'", token)));
    }
    BpeOptions options;
    options.byte_fallback = flag(m, "byte_fallback", false);
    options.fuse_unk = flag(m, "fuse_unk", false);
    options.ignore_merges = flag(m, "ignore_merges", false);
    if (m.contains("unk_token") && m["unk_token"].is_string()) {
      const std::string unk = m["unk_token"];
      auto it = vocab.find(unk);
      if (it == vocab.end()) fail(fmt::format("unk_token '{}' is not in the vocabulary", unk));
      options.unk_id = it->second;
    }
    auto bpe = std::make_unique<BpeModel>(std::move(vocab), options);
    if (m.contains("merges")) {
      bpe->reserve_merges(m["merges"].size());
      for (const auto& merge : m["merges"]) {
        if (merge.is_string()) {
          const std::string s = merge;
          const size_t space = s.find(' ');
          if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
            fail(fmt::format("merge '{}' is not two tokens separated by one space", s));
          }
          bpe->add_merge(std::string_view(s).substr(0, space),
                         std::string_view(s).substr(space + 1));
        } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
                   merge[1].is_string()) {
          bpe->add_merge(merge[0].get<std::string>(), merge[1].get<std::string>());
        } else {
          fail(fmt::format("invalid merge entry {}", merge.dump()));
        }
      }
    }
    return bpe;
  }

  void post_processor(const json& p, TokenizerParts& parts, bool* has_template) const {
    if (p.is_null()) return;
    const std::string type = type_of(p, "post_processor");
    if (type == "Sequence") {
      for (const auto& child : member(p, "processors", "Sequence post_processor")) {
        post_processor(child, parts, has_template);
      }
    } else if (type == "ByteLevel") {
      // Only adjusts offsets, which this tokenizer does not report.
    } else if (type == "TemplateProcessing") {
      *has_template = true;
      parts.prefix_ids.clear();
      parts.suffix_ids.clear();
      const json& specials = member(p, "special_tokens", "TemplateProcessing");
      bool seen_sequence = false;
      for (const auto& item : member(p, "single", "TemplateProcessing")) {
        if (item.contains("Sequence")) {
          seen_sequence = true;
        } else if (item.contains("SpecialToken")) {
          const std::string name = member(item["SpecialToken"], "id", "TemplateProcessing item");
          if (!specials.contains(name)) {
            fail(
                fmt::format("TemplateProcessing uses special token '{}' it does not define", name));
          }
          auto& dst = seen_sequence ? parts.suffix_ids : parts.prefix_ids;
          for (const auto& id : member(specials[name], "ids", "TemplateProcessing special token")) {
            dst.push_back(token_id(id, fmt::format("TemplateProcessing special token '{}'", name)));
          }
        } else {
          fail(fmt::format("invalid TemplateProcessing item {}", item.dump()));
        }
      }
    } else {
      fail(
          fmt::format("unsupported post_processor type '{}' (supported: Sequence, ByteLevel, "
                      "TemplateProcessing)",
                      type));
    }
  }

  DecoderPlan decoder(const json& d) const {
    DecoderPlan plan;
    if (d.is_null()) return plan;
    std::vector<json> chain;
    if (type_of(d, "decoder") == "Sequence") {
      for (const auto& child : member(d, "decoders", "Sequence decoder")) chain.push_back(child);
    } else {
      chain.push_back(d);
    }
    plan.mode = DecoderPlan::Mode::kPieces;
    bool fused = false, stripped = false;
    for (const auto& step : chain) {
      const std::string type = type_of(step, "decoder");
      if (stripped) fail(fmt::format("decoder step '{}' after Strip is not supported", type));
      if (type == "ByteLevel") {
        if (chain.size() != 1)
          fail("a ByteLevel decoder combined with other decoders is not supported");
        plan.mode = DecoderPlan::Mode::kByteLevel;
      } else if (type == "Replace" && !fused) {
        plan.replaces.emplace_back(
            literal_pattern(member(step, "pattern", "Replace decoder"), "Replace decoder"),
            member(step, "content", "Replace decoder"));
      } else if (type == "Metaspace" && !fused) {
        const std::string replacement = member(step, "replacement", "Metaspace decoder");
        plan.replaces.emplace_back(replacement, " ");
        // The reference drops the replacement outright in the first token.
        if (prepend_scheme(step) != PrependScheme::kNever) plan.drop_in_first = replacement;
      } else if (type == "ByteFallback" && !fused) {
        plan.byte_fallback = true;
      } else if (type == "Fuse") {
        fused = true;
      } else if (type == "Strip" && fused) {
        stripped = true;
        plan.strip_content = member(step, "content", "Strip decoder");
        plan.strip_start = strip_count(member(step, "start", "Strip decoder"));
        plan.strip_stop = strip_count(member(step, "stop", "Strip decoder"));
      } else if (type == "Replace" || type == "ByteFallback" || type == "Strip") {
        fail(fmt::format("decoder '{}' in this position of the Sequence is not supported", type));
      } else {
        fail(
            fmt::format("unsupported decoder type '{}' (supported: ByteLevel, Sequence of "
                        "Replace, Metaspace, ByteFallback, Fuse, Strip)",
                        type));
      }
    }
    return plan;
  }

 private:
  std::string origin_;
};

// A token in tokenizer_config.json is a string, an AddedToken object, or null.
std::string config_token(const json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return {};
  const json& v = config[key];
  if (v.is_string()) return v;
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"];
  return {};
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_json(std::string_view tokenizer_json,
                                                std::string_view config_json,
                                                std::string_view generation_config_json,
                                                std::string_view origin) {
  Loader loader(origin);
  const json root = loader.parse(tokenizer_json, "tokenizer.json");
  if (!root.is_object()) loader.fail("tokenizer.json is not a JSON object");
  const json config =
      config_json.empty() ? json::object() : loader.parse(config_json, "tokenizer_config.json");
  const json generation = generation_config_json.empty()
                              ? json::object()
                              : loader.parse(generation_config_json, "generation_config.json");
  auto parts = std::make_unique<TokenizerParts>();
  try {
    std::vector<NormalizerStep> norm;
    loader.normalizer(root.value("normalizer", json()), norm);
    parts->normalizer = Normalizer(std::move(norm));
    std::vector<PreTokenizerStep> pre;
    loader.pre_tokenizer(root.value("pre_tokenizer", json()), pre);
    parts->pre_tokenizer = PreTokenizer(std::move(pre));
    parts->model = loader.model(loader.member(root, "model", "tokenizer.json"));
    for (const auto& t : root.value("added_tokens", json::array())) {
      AddedToken a;
      a.id = loader.token_id(loader.member(t, "id", "added token"), "an added token");
      a.content = loader.member(t, "content", "added token").get<std::string>();
      a.special = loader.flag(t, "special", false);
      a.lstrip = loader.flag(t, "lstrip", false);
      a.rstrip = loader.flag(t, "rstrip", false);
      a.normalized = loader.flag(t, "normalized", !a.special);
      a.single_word = loader.flag(t, "single_word", false);
      if (a.id < 0) loader.fail(fmt::format("added token '{}' has a negative id", a.content));
      parts->added_tokens.push_back(std::move(a));
    }
    bool has_template = false;
    loader.post_processor(root.value("post_processor", json()), *parts, &has_template);
    parts->decoder = loader.decoder(root.value("decoder", json()));

    auto id_of = [&](const std::string& token) -> std::optional<int32_t> {
      if (token.empty()) return std::nullopt;
      for (const auto& t : parts->added_tokens) {
        if (t.content == token) return t.id;
      }
      return parts->model->find(token);
    };
    parts->bos_token = config_token(config, "bos_token");
    parts->eos_token = config_token(config, "eos_token");
    parts->pad_token = config_token(config, "pad_token");
    parts->bos_id = id_of(parts->bos_token);
    parts->pad_id = id_of(parts->pad_token);
    if (auto eos = id_of(parts->eos_token)) parts->eos_ids.push_back(*eos);
    if (generation.is_object()) {
      auto add_eos = [&](const json& v) {
        if (v.is_number_integer() && std::find(parts->eos_ids.begin(), parts->eos_ids.end(),
                                               v.get<int32_t>()) == parts->eos_ids.end()) {
          parts->eos_ids.push_back(v.get<int32_t>());
        }
      };
      const json eos = generation.value("eos_token_id", json());
      if (eos.is_array()) {
        for (const auto& v : eos) add_eos(v);
      } else {
        add_eos(eos);
      }
      if (!parts->bos_id && generation.value("bos_token_id", json()).is_number_integer()) {
        parts->bos_id = generation["bos_token_id"].get<int32_t>();
      }
    }
    // Without a template in tokenizer.json, tokenizer_config's flags say what to add.
    if (!has_template) {
      if (config.value("add_bos_token", false) && parts->bos_id)
        parts->prefix_ids = {*parts->bos_id};
      if (config.value("add_eos_token", false) && !parts->eos_ids.empty()) {
        parts->suffix_ids = {parts->eos_ids.front()};
      }
    }
    if (config.contains("chat_template")) {
      const json& ct = config["chat_template"];
      if (ct.is_string()) {
        parts->chat_template = ct;
      } else if (ct.is_array()) {
        for (const auto& named : ct) {
          if (named.value("name", "") == "default")
            parts->chat_template = named.value("template", "");
        }
      }
    }
  } catch (const json::exception& e) {
    loader.fail(fmt::format("unexpected tokenizer.json structure: {}", e.what()));
  }
  return std::make_unique<Tokenizer>(std::move(parts));
}

}  // namespace tessera::tokenizer
