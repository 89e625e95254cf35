// Template lexer (see lexer.h). Mirrors jinja2/lexer.py's rules: the earliest of {{ {% {#
// opens a tag; "-" after an opener strips all whitespace before it, "+" disables lstrip;
// lstrip_blocks removes spaces before {% / {# when only whitespace precedes them on their line;
// "-" before a closer strips all whitespace after it; trim_blocks eats one newline after %} / #}.
#include "template/lexer.h"

#include <algorithm>
#include <charconv>

#include "template/py_ops.h"

namespace tessera::tmpl {

std::string normalize_template_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

namespace {

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

bool all_python_space(std::string_view s) {
  if (s.empty()) return false;
  for (char32_t c : py::decode(s)) {
    if (!py::is_space(c)) return false;
  }
  return true;
}

// Python's "unicode-escape" decoding of a string literal body.
std::string unescape(std::string_view body, Pos pos) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out += c;
      continue;
    }
    char e = body[++i];
    auto hex = [&](size_t n) -> char32_t {
      if (i + n >= body.size()) {
        fail_at(pos, "TemplateSyntaxError: truncated \\{} escape in string literal", e);
      }
      uint32_t v = 0;
      auto r = std::from_chars(body.data() + i + 1, body.data() + i + 1 + n, v, 16);
      if (r.ec != std::errc() || r.ptr != body.data() + i + 1 + n) {
        fail_at(pos, "TemplateSyntaxError: truncated \\{} escape in string literal", e);
      }
      i += n;
      return static_cast<char32_t>(v);
    };
    switch (e) {
      case '\n':
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
        py::append_utf8(out, hex(2));
        break;
      case 'u':
        py::append_utf8(out, hex(4));
        break;
      case 'U': {
        char32_t v = hex(8);
        if (v > 0x10FFFF) fail_at(pos, "TemplateSyntaxError: illegal Unicode character");
        py::append_utf8(out, v);
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t v = static_cast<uint32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7';
               ++k) {
            v = v * 8 + static_cast<uint32_t>(body[++i] - '0');
          }
          py::append_utf8(out, static_cast<char32_t>(v));
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src.size(); ++i) {
      if (src[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  std::vector<Piece> run() {
    size_t pos = 0;
    bool line_starting = true;
    const size_t n = src_.size();
    while (pos < n) {
      size_t t = find_opener(pos);
      if (t == std::string_view::npos) {
        add_text(src_.substr(pos), pos);
        break;
      }
      const char kind = src_[t + 1];
      char sign = t + 2 < n ? src_[t + 2] : '\0';
      if (sign != '-' && sign != '+') sign = '\0';
      std::string text(src_.substr(pos, t - pos));
      if (sign == '-') {
        text = py::strip(text, false, true);
      } else if (sign != '+' && kind != '{') {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if ((l_pos > 0 || line_starting) &&
            all_python_space(std::string_view(text).substr(l_pos))) {
          text.resize(l_pos);
        }
      }
      add_text(text, pos);
      size_t body = t + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        pos = end_comment(t, body);
      } else {
        pos = lex_tag(t, body, kind);
      }
      line_starting = pos > 0 && src_[pos - 1] == '\n';
    }
    return std::move(pieces_);
  }

 private:
  Pos pos_of(size_t off) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), off);
    size_t line = static_cast<size_t>(it - line_starts_.begin());
    return Pos{static_cast<int>(line), static_cast<int>(off - line_starts_[line - 1] + 1)};
  }

  size_t find_opener(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string_view::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return std::string_view::npos;
  }

  void add_text(std::string_view text, size_t off) {
    if (text.empty()) return;
    if (!pieces_.empty() && pieces_.back().kind == Piece::Kind::kText) {
      pieces_.back().text.append(text);
      return;
    }
    Piece p;
    p.kind = Piece::Kind::kText;
    p.text = std::string(text);
    p.pos = pos_of(off);
    pieces_.push_back(std::move(p));
  }

  size_t skip_space(size_t p) const {
    while (p < src_.size() && is_ascii_space(src_[p])) ++p;
    return p;
  }

  size_t end_comment(size_t open, size_t body) {
    for (size_t q = src_.find("#}", body); q != std::string_view::npos;
         q = src_.find("#}", q + 1)) {
      if (q > body && src_[q - 1] == '-') return skip_space(q + 2);
      if (q > body && src_[q - 1] == '+') return q + 2;
      size_t end = q + 2;
      if (end < src_.size() && src_[end] == '\n') ++end;
      return end;
    }
    fail_at(pos_of(open), "TemplateSyntaxError: missing end of comment tag");
  }

  // Lexes the expression tokens of a {{ }} or {% %} tag; returns the offset after the closer.
  size_t lex_tag(size_t open, size_t p, char kind) {
    Piece piece;
    piece.kind = kind == '{' ? Piece::Kind::kOutput : Piece::Kind::kStatement;
    piece.pos = pos_of(open);
    std::vector<char> brackets;
    const size_t n = src_.size();
    while (true) {
      p = skip_space(p);
      if (p >= n) {
        fail_at(piece.pos,
                "TemplateSyntaxError: unexpected end of template, missing '{}' for "
                "the tag opened here",
                kind == '{' ? "}}" : "%}");
      }
      if (brackets.empty()) {
        size_t end = match_closer(p, kind, piece);
        if (end != std::string_view::npos) {
          Token e;
          e.kind = TokKind::kEnd;
          e.pos = pos_of(p);
          piece.tokens.push_back(std::move(e));
          if (kind == '%' && is_raw_open(piece)) return lex_raw(piece, end, p);
          pieces_.push_back(std::move(piece));
          return end;
        }
      }
      p = lex_token(p, piece, brackets);
    }
  }

  // If a closer starts at p, returns the offset after it (whitespace control applied).
  size_t match_closer(size_t p, char kind, const Piece&) const {
    const char c1 = kind == '{' ? '}' : '%';
    auto at = [&](size_t i, char c) { return i < src_.size() && src_[i] == c; };
    if (at(p, '-') && at(p + 1, c1) && at(p + 2, '}')) return skip_space(p + 3);
    if (kind == '%' && at(p, '+') && at(p + 1, '%') && at(p + 2, '}')) return p + 3;
    if (at(p, c1) && at(p + 1, '}')) {
      size_t end = p + 2;
      if (kind == '%' && at(end, '\n')) ++end;
      return end;
    }
    return std::string_view::npos;
  }

  static bool is_raw_open(const Piece& piece) {
    return piece.tokens.size() == 2 && piece.tokens[0].kind == TokKind::kName &&
           piece.tokens[0].text == "raw";
  }

  // {% raw %}: everything up to {% endraw %} is text. jinja2 applies no trim_blocks after the
  // raw opener, so undo the newline match_closer consumed.
  size_t lex_raw(const Piece& opener, size_t end, size_t closer_at) {
    if (src_[closer_at] == '%' && end > closer_at + 2) end = closer_at + 2;
    for (size_t q = src_.find("{%", end); q != std::string_view::npos; q = src_.find("{%", q + 1)) {
      size_t r = q + 2;
      char sign = r < src_.size() && (src_[r] == '-' || src_[r] == '+') ? src_[r] : '\0';
      if (sign) ++r;
      r = skip_space(r);
      if (src_.compare(r, 6, "endraw") != 0) continue;
      r = skip_space(r + 6);
      Piece dummy;
      size_t after = match_closer(r, '%', dummy);
      if (after == std::string_view::npos) continue;
      std::string text(src_.substr(end, q - end));
      if (sign == '-') text = py::strip(text, false, true);
      add_text(text, end);
      return after;
    }
    fail_at(opener.pos, "TemplateSyntaxError: missing {{% endraw %}} for this raw block");
  }

  size_t lex_token(size_t p, Piece& piece, std::vector<char>& brackets) {
    const size_t n = src_.size();
    Token tok;
    tok.pos = pos_of(p);
    char c = src_[p];
    if (is_name_start(c)) {
      size_t e = p;
      while (e < n && is_name_char(src_[e])) ++e;
      tok.kind = TokKind::kName;
      tok.text = std::string(src_.substr(p, e - p));
      piece.tokens.push_back(std::move(tok));
      return e;
    }
    if (is_digit(c)) return lex_number(p, piece, std::move(tok));
    if (c == '\'' || c == '"') {
      size_t e = p + 1;
      while (e < n && src_[e] != c) e += src_[e] == '\\' ? 2 : 1;
      if (e >= n) fail_at(tok.pos, "TemplateSyntaxError: unterminated string literal");
      tok.kind = TokKind::kString;
      tok.text = unescape(src_.substr(p + 1, e - p - 1), tok.pos);
      piece.tokens.push_back(std::move(tok));
      return e + 1;
    }
    static const char* kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
    for (const char* op : kTwo) {
      if (src_.compare(p, 2, op) == 0) {
        tok.kind = TokKind::kOp;
        tok.text = op;
        piece.tokens.push_back(std::move(tok));
        return p + 2;
      }
    }
    static const std::string_view kOne = "+-*/%~<>=()[]{},.:|;";
    if (kOne.find(c) == std::string_view::npos) {
      fail_at(tok.pos, "TemplateSyntaxError: unexpected character '{}'", c);
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets.push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
    } else if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty()) fail_at(tok.pos, "TemplateSyntaxError: unexpected '{}'", c);
      if (brackets.back() != c) {
        fail_at(tok.pos, "TemplateSyntaxError: unexpected '{}', expected '{}'", c, brackets.back());
      }
      brackets.pop_back();
    }
    tok.kind = TokKind::kOp;
    tok.text = std::string(1, c);
    piece.tokens.push_back(std::move(tok));
    return p + 1;
  }

  size_t lex_number(size_t p, Piece& piece, Token tok) {
    const size_t n = src_.size();
    auto digits = [&](size_t i) {
      while (i < n &&
             (is_digit(src_[i]) || (src_[i] == '_' && i + 1 < n && is_digit(src_[i + 1])))) {
        ++i;
      }
      return i;
    };
    size_t e = digits(p);
    bool is_float = false;
    // A float needs digits after the dot ("1." is the int 1 followed by an attribute dot).
    if (e + 1 < n && src_[e] == '.' && is_digit(src_[e + 1])) {
      e = digits(e + 1);
      is_float = true;
    }
    if (e < n && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t x = e + 1;
      if (x < n && (src_[x] == '+' || src_[x] == '-')) ++x;
      if (x < n && is_digit(src_[x])) {
        e = digits(x);
        is_float = true;
      }
    }
    std::string text;
    for (size_t i = p; i < e; ++i) {
      if (src_[i] != '_') text += src_[i];
    }
    tok.text = text;
    if (is_float) {
      tok.kind = TokKind::kFloat;
      auto r = std::from_chars(text.data(), text.data() + text.size(), tok.float_value);
      if (r.ec != std::errc()) fail_at(tok.pos, "TemplateSyntaxError: bad float literal");
    } else {
      tok.kind = TokKind::kInt;
      auto r = std::from_chars(text.data(), text.data() + text.size(), tok.int_value);
      if (r.ec != std::errc()) {
        fail_at(tok.pos, "TemplateSyntaxError: integer literal {} is out of range", text);
      }
    }
    piece.tokens.push_back(std::move(tok));
    return e;
  }

  std::string_view src_;
  std::vector<size_t> line_starts_;
  std::vector<Piece> pieces_;
};

}  // namespace

std::vector<Piece> lex_template(std::string_view source) {
  return Lexer(source).run();
}

}  // namespace tessera::tmpl
