// A compiled PCRE2 pattern (UTF + Unicode properties, JIT-compiled when the platform allows),
// used for the pre-tokenizer split patterns. Immutable after construction and safe to share
// between threads; each matching thread uses its own match data and JIT stack.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::tokenizer {

class Regex {
 public:
  // Throws tessera::Error naming the pattern and PCRE2's message when it does not compile.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the [begin, end) byte ranges of all non-overlapping, non-empty matches in `text`,
  // which must be valid UTF-8 (it is not re-checked).
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*, kept opaque so that pcre2.h stays out of headers
};

}  // namespace tessera::tokenizer
