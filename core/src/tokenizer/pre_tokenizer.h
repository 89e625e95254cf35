// Pre-tokenizers (the `pre_tokenizer` of tokenizer.json): split normalized text into the words
// that the BPE model encodes independently. Supported: Split (regex or literal, all behaviours
// but Contiguous, optional invert) and ByteLevel; a Sequence is a list of steps. Immutable after
// construction; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace tessera::tokenizer {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext };

struct PreTokenizerStep {
  enum class Kind { kSplit, kByteLevel };
  Kind kind = Kind::kSplit;
  std::shared_ptr<const Regex> regex;  // kSplit
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;  // kByteLevel
  bool use_regex = false;         // kByteLevel: also split with the GPT-2 pattern
};

class PreTokenizer {
 public:
  PreTokenizer() = default;
  explicit PreTokenizer(std::vector<PreTokenizerStep> steps) : steps_(std::move(steps)) {}
  // Splits `text` into words appended to `words` (no empty words). With no steps, the whole
  // text is one word.
  void run(std::string_view text, std::vector<std::string>& words) const;

 private:
  std::vector<PreTokenizerStep> steps_;
};

// The GPT-2 split pattern, used by ByteLevel with use_regex and by GGUF "gpt2" tokenizers.
extern const char* const kGpt2SplitPattern;

}  // namespace tessera::tokenizer
