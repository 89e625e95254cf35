// Lexer of the chat-template interpreter: splits a Jinja template into text, {{ output }} and
// {% statement %} pieces, applying whitespace control exactly as jinja2's lexer does with
// trim_blocks and lstrip_blocks on (Hugging Face's settings), and tokenizes the expressions
// inside tags. Comments are dropped and {% raw %} bodies become text here.
// Written by hand: no packaged C++ Jinja implementation exists.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "template/template_error.h"

namespace tessera::tmpl {

enum class TokKind { kName, kString, kInt, kFloat, kOp, kEnd };

struct Token {
  TokKind kind = TokKind::kEnd;
  std::string text;  // name, operator, or the decoded value of a string literal
  int64_t int_value = 0;
  double float_value = 0.0;
  Pos pos;
};

struct Piece {
  enum class Kind { kText, kOutput, kStatement };
  Kind kind = Kind::kText;
  std::string text;           // kText only
  std::vector<Token> tokens;  // kOutput / kStatement; always ends with a kEnd token
  Pos pos;                    // where the piece starts
};

// jinja2 (keep_trailing_newline=False) normalizes \r\n and \r to \n and drops one trailing
// newline before lexing.
std::string normalize_template_source(std::string_view source);

// Lexes a normalized source. Throws TemplateError (with position) on malformed tags.
std::vector<Piece> lex_template(std::string_view source);

}  // namespace tessera::tmpl
