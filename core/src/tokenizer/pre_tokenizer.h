// Pre-tokenizers (the `pre_tokenizer` of tokenizer.json): split normalized text into the words
// that the BPE model encodes independently. Supported: Split (regex or literal, all behaviours
// but Contiguous, optional invert), ByteLevel and Metaspace; the tokenizer.json loader also
// expresses Digits, Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer and
// CharDelimiterSplit as Split steps with the equivalent pattern. A Sequence is a list of
// steps. Immutable after construction; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace tessera::tokenizer {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext };

// Metaspace's prepend_scheme: add the replacement before every piece, only before the piece
// that starts the input text, or never.
enum class PrependScheme { kAlways, kFirst, kNever };

struct PreTokenizerStep {
  enum class Kind { kSplit, kByteLevel, kMetaspace };
  Kind kind = Kind::kSplit;
  std::shared_ptr<const Regex> regex;  // kSplit
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;  // kByteLevel
  bool use_regex = false;         // kByteLevel: also split with the GPT-2 pattern
  // kMetaspace: spaces become `replacement`, which is prepended per `prepend`; with
  // `metaspace_split`, words are split before each replacement (MergedWithNext).
  std::string replacement;
  PrependScheme prepend = PrependScheme::kAlways;
  bool metaspace_split = true;
};

class PreTokenizer {
 public:
  PreTokenizer() = default;
  explicit PreTokenizer(std::vector<PreTokenizerStep> steps) : steps_(std::move(steps)) {}
  // Splits `text` into words appended to `words` (no empty words). With no steps, the whole
  // text is one word. `at_input_start`: `text` begins the whole input (not a piece after an
  // added token), which Metaspace's "first" scheme needs to know.
  void run(std::string_view text, std::vector<std::string>& words,
           bool at_input_start = true) const;

 private:
  std::vector<PreTokenizerStep> steps_;
};

// The GPT-2 split pattern, used by ByteLevel with use_regex and by GGUF "gpt2" tokenizers.
extern const char* const kGpt2SplitPattern;

}  // namespace tessera::tokenizer
