// Public (the server builds prompts with it). ChatTemplate: renders a model's chat template (the
// Jinja `chat_template` of tokenizer_config.json or GGUF's tokenizer.chat_template) the way Hugging
// Face transformers renders it: jinja2's ImmutableSandboxedEnvironment with trim_blocks,
// lstrip_blocks and loopcontrols, HF's tojson, raise_exception and strftime_now.
//
// The Jinja interpreter behind it is written by hand (core/src/template/*): no C++ Jinja
// library is packaged in Debian. It implements the subset chat templates use; see
// docs/chat-templates.md. A parsed template is immutable and may be rendered from several
// threads at once. Every failure (syntax error, unknown filter, raise_exception, runaway
// template) is a tessera::Error whose message names the line and column.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::tmpl {
struct Node;
class Value;
}  // namespace tessera::tmpl

namespace tessera {

struct ChatTemplateRenderOptions {
  // The clock strftime_now() reads; unset means the local time at render.
  std::optional<std::tm> now;
  size_t max_output_bytes = size_t{64} << 20;
  int max_macro_depth = 64;
  uint64_t max_steps = 20'000'000;
};

class ChatTemplate {
 public:
  // Parses template text. `name` labels error messages (a file name, "tokenizer_config.json").
  static ChatTemplate parse(std::string source, std::string name = "chat template");
  // Reads a template file: raw Jinja text, or a tokenizer_config.json-style JSON file whose
  // "chat_template" is used.
  static ChatTemplate from_file(const std::string& path);

  // context: an object with messages, tools, add_generation_prompt, bos_token, eos_token and
  // any extra keyword arguments (enable_thinking, date_string ...). Keys keep the order they
  // have in the JSON value, which tojson reproduces; prefer ordered_json, since nlohmann::json
  // sorts object keys.
  std::string render(const nlohmann::ordered_json& context,
                     const ChatTemplateRenderOptions& options = {}) const;
  std::string render(const nlohmann::json& context,
                     const ChatTemplateRenderOptions& options = {}) const;

  const std::string& source() const { return source_; }
  const std::string& name() const { return name_; }

 private:
  ChatTemplate() = default;
  std::string render_value(const tmpl::Value& context,
                           const ChatTemplateRenderOptions& options) const;

  std::string source_;
  std::string name_;
  std::shared_ptr<const std::vector<std::unique_ptr<tmpl::Node>>> body_;
};

// The ChatML template used for models that ship no chat template.
const std::string& chatml_fallback_template();

// The chat template of a tokenizer_config.json: "chat_template" as a string, or the entry
// called `name` of a list of {"name", "template"} objects. nullopt when there is none.
std::optional<std::string> chat_template_from_config(const nlohmann::json& tokenizer_config,
                                                     std::string_view name = "default");

// Resolves a --chat-template argument as vLLM does: an existing file is read (see from_file);
// otherwise text containing "{{" or "{%" is the template itself; anything else is an error.
ChatTemplate load_chat_template_arg(const std::string& arg);

}  // namespace tessera
