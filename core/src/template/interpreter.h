// Tree-walking evaluator of the chat-template interpreter. One render = one Interpreter-local
// state (scopes, output buffer, step budget); the syntax tree is shared and read-only, so
// renders of one template may run concurrently. Written by hand: no packaged C++ Jinja exists.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <string>

#include "template/ast.h"
#include "template/value.h"

namespace tessera::tmpl {

struct RenderLimits {
  size_t max_output_bytes = size_t{64} << 20;
  int max_call_depth = 64;                    // nested macro calls
  uint64_t max_steps = 20'000'000;            // statements + expressions evaluated
  size_t max_value_bytes = size_t{64} << 20;  // one string or list built by * or +
};

struct RenderEnv {
  // strftime_now(fmt) as Hugging Face defines it (datetime.now().strftime(fmt)); replaceable so
  // renders can be made deterministic.
  std::function<std::string(const std::string&)> strftime_now;
  RenderLimits limits;
};

// Renders a parsed template. Throws TemplateError (with the position of the failing node).
std::string render_template(const Body& body, const Object& context, const RenderEnv& env);

// Fails with the position of the first unknown filter or test in the tree (jinja2 rejects
// those when it compiles a template, before any render).
void check_names(const Body& body);

}  // namespace tessera::tmpl
