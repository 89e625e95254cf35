// UTF-8 helpers; see utf8.h. Sequence validity follows Unicode Table 3-7 (no overlongs, no
// surrogates, nothing above U+10FFFF).
#include "tokenizer/utf8.h"

#include <utf8proc.h>

namespace tessera::tokenizer {
namespace {

// Scans the sequence at s[i]: returns how many bytes form a valid (possibly unfinished) prefix
// and sets *needed to the full length the lead byte announces (0 when the lead byte is invalid).
size_t scan_sequence(std::string_view s, size_t i, size_t* needed) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  unsigned char lo = 0x80, hi = 0xBF;
  size_t n = 0;
  if (b0 < 0x80) {
    *needed = 1;
    return 1;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 == 0xE0) {
    n = 3, lo = 0xA0;
  } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
    n = 3;
  } else if (b0 == 0xED) {
    n = 3, hi = 0x9F;
  } else if (b0 == 0xF0) {
    n = 4, lo = 0x90;
  } else if (b0 >= 0xF1 && b0 <= 0xF3) {
    n = 4;
  } else if (b0 == 0xF4) {
    n = 4, hi = 0x8F;
  } else {
    *needed = 0;
    return 0;
  }
  *needed = n;
  size_t k = 1;
  for (; k < n && i + k < s.size(); ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < lo || b > hi) break;
    lo = 0x80, hi = 0xBF;  // only the second byte has a narrowed range
  }
  return k;
}

std::array<std::string, 256> make_alphabet(std::array<int, 0x200>* inverse) {
  std::array<std::string, 256> table;
  inverse->fill(-1);
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++);
    append_utf8(cp, table[b]);
    (*inverse)[cp] = b;
  }
  return table;
}

struct Alphabet {
  std::array<int, 0x200> inverse{};
  std::array<std::string, 256> table = make_alphabet(&inverse);
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

bool is_valid_utf8(std::string_view s, size_t* error_offset) {
  for (size_t i = 0; i < s.size();) {
    size_t needed = 0;
    const size_t k = scan_sequence(s, i, &needed);
    if (needed == 0 || k != needed) {
      if (error_offset) *error_offset = i;
      return false;
    }
    i += k;
  }
  return true;
}

size_t append_lossy_utf8(std::string_view bytes, std::string& out, bool hold_incomplete_tail) {
  size_t i = 0;
  while (i < bytes.size()) {
    size_t needed = 0;
    const size_t k = scan_sequence(bytes, i, &needed);
    if (needed != 0 && k == needed) {
      out.append(bytes.substr(i, k));
      i += k;
      continue;
    }
    if (hold_incomplete_tail && needed != 0 && i + k == bytes.size()) return i;
    out.append(kReplacementChar);
    i += k == 0 ? 1 : k;
  }
  return i;
}

char32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  const size_t n = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : 2;
  char32_t cp = b0 & (0x7F >> n);
  for (size_t k = 1; k < n && i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  i += n;
  return cp;
}

char32_t prev_code_point(std::string_view s, size_t end, size_t* start) {
  size_t p = end - 1;
  while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
  *start = p;
  size_t q = p;
  return next_code_point(s, q);
}

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_unicode_whitespace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

bool is_word_char(char32_t cp) {
  if (cp == 0x200C || cp == 0x200D) return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

const std::array<std::string, 256>& byte_level_alphabet() {
  return alphabet().table;
}

int byte_level_byte(char32_t cp) {
  return cp < alphabet().inverse.size() ? alphabet().inverse[cp] : -1;
}

}  // namespace tessera::tokenizer
