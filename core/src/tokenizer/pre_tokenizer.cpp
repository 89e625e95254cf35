// Pre-tokenizer steps; see pre_tokenizer.h. Split behaviours follow the reference
// implementation's SplitDelimiterBehavior.
#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <utility>

#include "tokenizer/utf8.h"

namespace tessera::tokenizer {

const char* const kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

struct Span {
  size_t begin, end;
  bool is_match;
};

void split_piece(const std::string& piece, const Regex& regex, SplitBehavior behavior, bool invert,
                 std::vector<std::string>& out) {
  std::vector<std::pair<size_t, size_t>> matches;
  regex.find_all(piece, matches);
  std::vector<Span> spans;
  size_t pos = 0;
  for (const auto& [b, e] : matches) {
    if (b > pos) spans.push_back({pos, b, invert});
    spans.push_back({b, e, !invert});
    pos = e;
  }
  if (pos < piece.size()) spans.push_back({pos, piece.size(), invert});

  std::vector<std::pair<size_t, size_t>> result;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const auto& s : spans) {
        if (!s.is_match) result.emplace_back(s.begin, s.end);
      }
      break;
    case SplitBehavior::kIsolated:
      for (const auto& s : spans) result.emplace_back(s.begin, s.end);
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const auto& s : spans) {
        if (s.is_match && !previous_match && !result.empty()) {
          result.back().second = s.end;
        } else {
          result.emplace_back(s.begin, s.end);
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !result.empty()) {
          result.back().first = it->begin;
        } else {
          result.emplace_back(it->begin, it->end);
        }
        previous_match = it->is_match;
      }
      std::reverse(result.begin(), result.end());
      break;
  }
  for (const auto& [b, e] : result) {
    if (e > b) out.push_back(piece.substr(b, e - b));
  }
}

const Regex& gpt2_regex() {
  static const Regex r(kGpt2SplitPattern);
  return r;
}

void metaspace(const PreTokenizerStep& step, std::string& piece, bool first,
               std::vector<std::string>& out) {
  std::string text;
  text.reserve(piece.size() + step.replacement.size());
  for (char c : piece) {
    if (c == ' ') {
      text += step.replacement;
    } else {
      text += c;
    }
  }
  const bool prepend =
      step.prepend == PrependScheme::kAlways || (step.prepend == PrependScheme::kFirst && first);
  if (prepend && !text.starts_with(step.replacement)) text.insert(0, step.replacement);
  if (!step.metaspace_split || step.replacement.empty()) {
    if (!text.empty()) out.push_back(std::move(text));
    return;
  }
  // MergedWithNext on each replacement: a word starts at every replacement.
  size_t start = 0;
  for (size_t hit = text.find(step.replacement, 1); hit != std::string::npos;
       hit = text.find(step.replacement, hit + step.replacement.size())) {
    if (hit > start) out.push_back(text.substr(start, hit - start));
    start = hit;
  }
  if (start < text.size()) out.push_back(text.substr(start));
}

}  // namespace

void PreTokenizer::run(std::string_view text, std::vector<std::string>& words,
                       bool at_input_start) const {
  if (text.empty()) return;
  std::vector<std::string> pieces{std::string(text)};
  std::vector<std::string> next;
  for (const auto& step : steps_) {
    next.clear();
    if (step.kind == PreTokenizerStep::Kind::kSplit) {
      for (const auto& p : pieces) split_piece(p, *step.regex, step.behavior, step.invert, next);
    } else if (step.kind == PreTokenizerStep::Kind::kMetaspace) {
      // Only the piece at offset 0 of the input counts as "first".
      for (size_t i = 0; i < pieces.size(); ++i) {
        metaspace(step, pieces[i], at_input_start && i == 0, next);
      }
    } else {
      const auto& alphabet = byte_level_alphabet();
      std::vector<std::string> parts;
      for (auto& p : pieces) {
        if (step.add_prefix_space && (p.empty() || p[0] != ' ')) {
          std::string prefixed(1, ' ');
          prefixed += p;
          p.swap(prefixed);
        }
        parts.clear();
        if (step.use_regex) {
          split_piece(p, gpt2_regex(), SplitBehavior::kIsolated, false, parts);
        } else {
          parts.push_back(std::move(p));
        }
        for (const auto& part : parts) {
          std::string mapped;
          mapped.reserve(part.size() * 2);
          for (unsigned char c : part) mapped += alphabet[c];
          next.push_back(std::move(mapped));
        }
      }
    }
    pieces.swap(next);
  }
  for (auto& p : pieces) {
    if (!p.empty()) words.push_back(std::move(p));
  }
}

}  // namespace tessera::tokenizer
