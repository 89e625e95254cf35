// Chat templates (tessera/chat_template.h): the hand-written Jinja lexer, parser and
// interpreter. Two modes, by the first input byte:
//  - even: the rest is a template's source, parsed and rendered with a fixed conversation
//    (what a --chat-template argument or a model's tokenizer_config.json can contain);
//  - odd: the rest is a JSON render context (messages, tools, kwargs: what a client's chat
//    request becomes), rendered with the real templates in tests/data/templates.
// Limits on steps and output bytes are small so that a runaway template is an error here, not
// a libFuzzer timeout. Invariant beyond "no crash": the output respects max_output_bytes.
#include <ctime>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "tessera/error.h"
#include "tessera/chat_template.h"

#ifndef TESSERA_TEST_DATA_DIR
#error "TESSERA_TEST_DATA_DIR must name tests/data"
#endif

namespace {

using nlohmann::ordered_json;
using tessera::ChatTemplate;

tessera::ChatTemplateRenderOptions render_options() {
  tessera::ChatTemplateRenderOptions options;
  std::tm fixed{};
  fixed.tm_year = 124;
  fixed.tm_mday = 1;
  options.now = fixed;
  options.max_output_bytes = size_t{1} << 16;
  options.max_steps = 200'000;
  return options;
}

const ordered_json& fixed_context() {
  static const ordered_json kContext = ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "What is 2+2? <|im_end|>"},
      {"role": "assistant", "content": "4", "tool_calls": [{"type": "function",
        "function": {"name": "add", "arguments": {"a": 2, "b": 2}}}]},
      {"role": "tool", "content": "{\"sum\": 4}"},
      {"role": "user", "content": [{"type": "text", "text": "thanks"}]}],
    "tools": [{"type": "function", "function": {"name": "add", "description": "adds",
      "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>",
    "enable_thinking": false})");
  return kContext;
}

const std::vector<ChatTemplate>& real_templates() {
  static const std::vector<ChatTemplate> kTemplates = [] {
    std::vector<ChatTemplate> out;
    for (const char* name :
         {"qwen3.jinja", "llama-3.1.jinja", "llama-3.1-tools.jinja", "chatml_fallback.jinja"}) {
      out.push_back(
          ChatTemplate::from_file(std::string(TESSERA_TEST_DATA_DIR "/templates/") + name));
    }
    return out;
  }();
  return kTemplates;
}

void render_checked(const ChatTemplate& chat_template, const ordered_json& context) {
  const auto options = render_options();
  try {
    const std::string out = chat_template.render(context, options);
    TSR_FUZZ_ASSERT(out.size() <= options.max_output_bytes, "output beyond max_output_bytes");
  } catch (const tessera::Error& e) {
    TSR_FUZZ_ASSERT(e.what()[0] != '\0', "an error without a message");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  (void)real_templates();  // parsed once, outside libFuzzer's per-input timeout
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(tessera::fuzz::as_text(data + 1, size - 1));
  if ((data[0] & 1) == 0) {
    try {
      const ChatTemplate chat_template = ChatTemplate::parse(rest, "fuzzed template");
      render_checked(chat_template, fixed_context());
    } catch (const tessera::Error& e) {
      TSR_FUZZ_ASSERT(e.what()[0] != '\0', "an error without a message");
    }
    return 0;
  }
  const ordered_json context = ordered_json::parse(rest, nullptr, false);
  if (context.is_discarded()) return 0;
  for (const auto& chat_template : real_templates()) render_checked(chat_template, context);
  return 0;
}
