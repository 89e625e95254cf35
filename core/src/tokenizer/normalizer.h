// Text normalizers of the tokenizer pipeline (the `normalizer` of tokenizer.json): a sequence of
// steps applied to each piece of user text that is not an added token. Only the steps that the
// supported tokenizer families use are implemented; parsing anything else fails loudly.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace tessera::tokenizer {

struct NormalizerStep {
  enum class Kind {
    kNfc,
    kNfd,
    kNfkc,
    kNfkd,
    kPrepend,
    kReplace,       // literal `text`, or every match of `regex` when set
    kStrip,         // Unicode whitespace at the start (`text` == "l" or "lr") and/or end ("r")
    kLowercase,     // per character, as Rust's char::to_lowercase
    kStripAccents,  // drops combining marks (Mn, Mc, Me)
  };
  Kind kind;
  std::string text;         // kPrepend: what to prepend; kReplace: the literal pattern
  std::string replacement;  // kReplace
  std::shared_ptr<const Regex> regex = nullptr;  // kReplace with a Regex pattern
};

class Normalizer {
 public:
  Normalizer() = default;
  explicit Normalizer(std::vector<NormalizerStep> steps) : steps_(std::move(steps)) {}
  bool empty() const { return steps_.empty(); }
  // Input must be valid UTF-8; so is the output.
  std::string apply(std::string_view text) const;

 private:
  std::vector<NormalizerStep> steps_;
};

}  // namespace tessera::tokenizer
