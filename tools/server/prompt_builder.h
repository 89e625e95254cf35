// PromptBuilder: turns what a client sends (a completion prompt, or chat messages) into token
// ids for the engine.
//
// Chat: messages are normalized as vLLM's "string" content format does (a list of text parts
// is joined with "\n"), rendered with the chat template (--chat-template, else the
// tokenizer's, else ChatML), and tokenized with parse_special=true so that the template's own
// special tokens (<|im_start|> …) become single ids. Like vLLM, no second BOS is added when the
// rendered text already starts with one (add_special_tokens defaults to false then).
//
// Unlike vLLM, text a client puts in a message can never become a special token: special-token
// text inside message content is swapped for private-use placeholders before rendering, and
// each placeholder is encoded afterwards as plain text (parse_special=false). See
// docs/server.md. Immutable after construction; safe to use from several threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tessera/chat_template.h"
#include "tessera/tokenizer.h"

namespace tessera::server {

class PromptBuilder {
 public:
  // `chat_template_arg`: the --chat-template value (a file or inline template); empty for the
  // tokenizer's own template, or ChatML when it has none.
  // `default_kwargs` (--default-chat-template-kwargs): template variables every chat request
  // gets unless its own chat_template_kwargs sets them.
  PromptBuilder(const tokenizer::Tokenizer& tokenizer, const std::string& chat_template_arg,
                nlohmann::json default_kwargs = nlohmann::json::object());

  // A completion prompt given as text: add_special_tokens as requested (vLLM default true);
  // special-token text is recognized, as for a raw prompt it is the client's to write.
  std::vector<int32_t> encode_text(const std::string& text, bool add_special_tokens) const;

  struct ChatPrompt {
    std::string text;  // the rendered template, placeholders expanded back
    std::vector<int32_t> ids;
  };
  // `request` carries messages and optionally add_generation_prompt, add_special_tokens,
  // chat_template_kwargs, tools. Throws ApiError(400) for malformed messages or a template
  // that fails on them.
  ChatPrompt encode_chat(const nlohmann::json& request) const;

  // Where the template came from: "--chat-template", "tokenizer", or "chatml fallback".
  const std::string& template_origin() const { return origin_; }

 private:
  const tokenizer::Tokenizer& tokenizer_;
  std::string origin_;  // before template_: choose_template() writes it
  ChatTemplate template_;
  std::vector<std::string> special_texts_;  // longest first
  nlohmann::json default_kwargs_;
};

}  // namespace tessera::server
