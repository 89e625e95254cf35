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

std::string replace_regex(const std::string& text, const Regex& regex,
                          std::string_view replacement) {
  std::vector<std::pair<size_t, size_t>> matches;
  regex.find_all(text, matches);
  if (matches.empty()) return text;
  std::string out;
  size_t pos = 0;
  for (const auto& [b, e] : matches) {
    out.append(text, pos, b - pos);
    out.append(replacement);
    pos = e;
  }
  out.append(text, pos);
  return out;
}

void append_code_point(int32_t cp, std::string& out) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(cp, buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

std::vector<int32_t> code_points(std::string_view text) {
  std::vector<int32_t> cps;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    TSR_CHECK(n > 0, "normalizer: invalid UTF-8");
    cps.push_back(cp);
    p += n;
    left -= n;
  }
  return cps;
}

// The reference lowercases character by character with Rust's char::to_lowercase: the simple
// mapping, except U+0130, whose lowercase is the two characters "i\u0307" (no final-sigma rule).
std::string lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (int32_t cp : code_points(text)) {
    if (cp == 0x130) {
      out += "i\xCC\x87";
    } else {
      append_code_point(utf8proc_tolower(cp), out);
    }
  }
  return out;
}

std::string strip_accents(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (int32_t cp : code_points(text)) {
    const auto category = utf8proc_category(cp);
    if (category == UTF8PROC_CATEGORY_MN || category == UTF8PROC_CATEGORY_MC ||
        category == UTF8PROC_CATEGORY_ME) {
      continue;
    }
    append_code_point(cp, out);
  }
  return out;
}

// Rust's char::is_whitespace: the Unicode White_Space property.
bool is_white_space(int32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

std::string strip(std::string_view text, bool left, bool right) {
  const std::vector<int32_t> cps = code_points(text);
  size_t begin = 0, end = cps.size();
  while (left && begin < end && is_white_space(cps[begin])) ++begin;
  while (right && end > begin && is_white_space(cps[end - 1])) --end;
  std::string out;
  for (size_t i = begin; i < end; ++i) append_code_point(cps[i], out);
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
        s = step.regex ? replace_regex(s, *step.regex, step.replacement)
                       : replace_all(s, step.text, step.replacement);
        break;
      case NormalizerStep::Kind::kStrip:
        s = strip(s, step.text.find('l') != std::string::npos,
                  step.text.find('r') != std::string::npos);
        break;
      case NormalizerStep::Kind::kLowercase:
        s = lowercase(s);
        break;
      case NormalizerStep::Kind::kStripAccents:
        s = strip_accents(s);
        break;
    }
  }
  return s;
}

}  // namespace tessera::tokenizer
