// Added tokens (tokenizer.json `added_tokens`): special and ordinary tokens that are matched in
// the text before normalization and BPE, as the reference does: leftmost-longest matching over
// all added tokens, honouring single_word / lstrip / rstrip, with non-normalized tokens matched
// on the raw text and normalized ones on each normalized piece. Immutable after construction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::tokenizer {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool single_word = false;
};

// A piece of text: either plain text [begin, end) or an added token (id >= 0).
struct TextSegment {
  size_t begin;
  size_t end;
  int32_t id;
};

// Leftmost-longest matcher over a set of patterns (a byte trie).
class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  // `patterns[i]` is what to look for in the text for `tokens[i]`.
  AddedTokenMatcher(std::vector<AddedToken> tokens, const std::vector<std::string>& patterns);
  bool empty() const { return tokens_.empty(); }
  // Splits `text` into segments covering it. With `parse_special` false, special tokens are
  // not recognized (their text stays plain text); ordinary added tokens still are.
  void split(std::string_view text, bool parse_special, std::vector<TextSegment>& out) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
    int32_t token = -1;                                       // index into tokens_
  };
  int32_t child(int32_t node, unsigned char c) const;
  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;
};

}  // namespace tessera::tokenizer
