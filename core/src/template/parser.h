// Parser of the chat-template interpreter: lexer pieces -> syntax tree, with jinja2's operator
// precedence and statement set (if/for/set/macro/call/break/continue/raw/generation).
// Written by hand: no packaged C++ Jinja implementation exists.
#pragma once

#include <vector>

#include "template/ast.h"
#include "template/lexer.h"

namespace tessera::tmpl {

// Throws TemplateError with the position of the offending token.
Body parse_template(std::vector<Piece> pieces);

}  // namespace tessera::tmpl
