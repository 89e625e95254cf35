// Normalizer steps; Unicode normalization forms come from utf8proc.
#include "tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>

#include "common/check.h"

namespace tessera::tokenizer {
namespace {

std::string unicode_normalize(std::string_view text, int options) {
  if (text.empty()) return {};
  utf8proc_uint8_t* out = nullptr;
  // Explicit length (no NULLTERM) so that U+0000 inside the text survives.
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &out,
                   static_cast<utf8proc_option_t>(options | UTF8PROC_STABLE));
  TSR_CHECK(n >= 0, "Unicode normalization failed: {}", utf8proc_errmsg(n));
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

std::string replace_all(std::string_view text, std::string_view pattern,
                        std::string_view replacement) {
  if (pattern.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (size_t hit; (hit = text.find(pattern, pos)) != std::string_view::npos;
       pos = hit + pattern.size()) {
    out.append(text.substr(pos, hit - pos));
    out.append(replacement);
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace

std::string Normalizer::apply(std::string_view text) const {
  std::string s(text);
  for (const auto& step : steps_) {
    switch (step.kind) {
      case NormalizerStep::Kind::kNfc:
        s = unicode_normalize(s, UTF8PROC_COMPOSE);
        break;
      case NormalizerStep::Kind::kNfd:
        s = unicode_normalize(s, UTF8PROC_DECOMPOSE);
        break;
      case NormalizerStep::Kind::kNfkc:
        s = unicode_normalize(s, UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
        break;
      case NormalizerStep::Kind::kNfkd:
        s = unicode_normalize(s, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
        break;
      case NormalizerStep::Kind::kPrepend:
        // As the reference does: an empty piece stays empty.
        if (!s.empty()) s.insert(0, step.text);
        break;
      case NormalizerStep::Kind::kReplace:
        s = replace_all(s, step.text, step.replacement);
        break;
    }
  }
  return s;
}

}  // namespace tessera::tokenizer
