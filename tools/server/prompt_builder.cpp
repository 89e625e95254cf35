#include "prompt_builder.h"

#include <algorithm>

#include "api_error.h"
#include "tessera/check.h"

namespace tessera::server {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// Private-use code points delimit placeholders: U+E000 <index> U+E001.
constexpr std::string_view kOpen = "\xEE\x80\x80";
constexpr std::string_view kClose = "\xEE\x80\x81";

ChatTemplate choose_template(const tokenizer::Tokenizer& tok, const std::string& arg,
                             std::string* origin) {
  if (!arg.empty()) {
    *origin = "--chat-template";
    return load_chat_template_arg(arg);
  }
  if (!tok.chat_template().empty()) {
    *origin = "tokenizer";
    return ChatTemplate::parse(tok.chat_template(), "tokenizer chat_template");
  }
  *origin = "chatml fallback";
  return ChatTemplate::parse(chatml_fallback_template(), "ChatML fallback");
}

// vLLM's "string" content format: text parts joined by newlines.
std::string content_text(const json& content, size_t index) {
  const std::string param = "messages[" + std::to_string(index) + "].content";
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    throw bad_request("'" + param + "' must be a string or a list of parts", param);
  std::string text;
  bool first = true;
  for (const auto& part : content) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      throw bad_request("each part of '" + param + "' must be an object with a 'type'", param);
    }
    const auto type = part["type"].get<std::string>();
    if (type != "text") {
      throw bad_request("content parts of type '" + type + "' are not supported (text only)",
                        param);
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      throw bad_request("a text part of '" + param + "' needs a string 'text'", param);
    }
    if (!first) text += "\n";
    text += part["text"].get<std::string>();
    first = false;
  }
  return text;
}

}  // namespace

PromptBuilder::PromptBuilder(const tokenizer::Tokenizer& tokenizer,
                             const std::string& chat_template_arg, nlohmann::json default_kwargs)
    : tokenizer_(tokenizer),
      template_(choose_template(tokenizer, chat_template_arg, &origin_)),
      default_kwargs_(std::move(default_kwargs)) {
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (!tokenizer.is_special(id)) continue;
    auto text = tokenizer.token_text(id);
    if (!text.empty()) special_texts_.push_back(std::move(text));
  }
  std::sort(special_texts_.begin(), special_texts_.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

std::vector<int32_t> PromptBuilder::encode_text(const std::string& text,
                                                bool add_special_tokens) const {
  try {
    return tokenizer_.encode(text, {add_special_tokens, true});
  } catch (const Error& e) {
    throw bad_request(e.what(), "prompt");
  }
}

PromptBuilder::ChatPrompt PromptBuilder::encode_chat(const json& request) const {
  if (!request.contains("messages") || !request["messages"].is_array() ||
      request["messages"].empty()) {
    throw bad_request("'messages' must be a non-empty list of messages", "messages");
  }
  // Message content with special-token text is swapped for placeholders (see the header).
  std::vector<std::string> hidden;
  auto hide_specials = [&](std::string text) {
    for (size_t pos = 0; pos < text.size();) {
      bool replaced = false;
      for (const auto& special : special_texts_) {
        if (text.compare(pos, special.size(), special) != 0) continue;
        const std::string mark =
            std::string(kOpen) + std::to_string(hidden.size()) + std::string(kClose);
        hidden.push_back(special);
        text.replace(pos, special.size(), mark);
        pos += mark.size();
        replaced = true;
        break;
      }
      if (!replaced) ++pos;
    }
    return text;
  };

  ordered_json messages = ordered_json::array();
  const auto& in = request["messages"];
  for (size_t i = 0; i < in.size(); ++i) {
    const auto& m = in[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw bad_request("'" + where + "' must be an object", where);
    if (!m.contains("role") || !m["role"].is_string()) {
      throw bad_request("'" + where + ".role' must be a string", where + ".role");
    }
    ordered_json message = ordered_json::parse(m.dump());
    if (m.contains("content") && !m["content"].is_null()) {
      message["content"] = hide_specials(content_text(m["content"], i));
    } else if (!m.contains("content")) {
      message["content"] = "";
    }
    messages.push_back(std::move(message));
  }

  ordered_json context = ordered_json::object();
  for (const auto& [key, value] : default_kwargs_.items()) {
    context[key] = ordered_json::parse(value.dump());
  }
  if (request.contains("chat_template_kwargs") && !request["chat_template_kwargs"].is_null()) {
    const auto& kwargs = request["chat_template_kwargs"];
    if (!kwargs.is_object()) {
      throw bad_request("'chat_template_kwargs' must be an object", "chat_template_kwargs");
    }
    for (const auto& [key, value] : kwargs.items())
      context[key] = ordered_json::parse(value.dump());
  }
  context["messages"] = std::move(messages);
  bool add_generation_prompt = true;
  if (request.contains("add_generation_prompt")) {
    if (!request["add_generation_prompt"].is_boolean()) {
      throw bad_request("'add_generation_prompt' must be a boolean", "add_generation_prompt");
    }
    add_generation_prompt = request["add_generation_prompt"].get<bool>();
  }
  context["add_generation_prompt"] = add_generation_prompt;
  if (request.contains("tools") && request["tools"].is_array()) {
    context["tools"] = ordered_json::parse(request["tools"].dump());
  }
  context["bos_token"] = tokenizer_.bos_token();
  context["eos_token"] = tokenizer_.eos_token();

  std::string rendered;
  try {
    rendered = template_.render(context);
  } catch (const Error& e) {
    throw bad_request(std::string("chat template: ") + e.what(), "messages");
  }

  // vLLM: no BOS from the tokenizer when the template already wrote one.
  const std::string& bos = tokenizer_.bos_token();
  bool add_special = !tokenizer_.prefix_ids().empty() &&
                     !(!bos.empty() && rendered.compare(0, bos.size(), bos) == 0);
  if (request.contains("add_special_tokens")) {
    if (!request["add_special_tokens"].is_boolean()) {
      throw bad_request("'add_special_tokens' must be a boolean", "add_special_tokens");
    }
    add_special = request["add_special_tokens"].get<bool>();
  }

  ChatPrompt out;
  try {
    if (hidden.empty()) {
      out.text = rendered;
      out.ids = tokenizer_.encode(rendered, {add_special, true});
      return out;
    }
    if (add_special) out.ids = tokenizer_.prefix_ids();
    auto append = [&](std::string_view text, bool parse_special) {
      if (text.empty()) return;
      out.text += text;
      const auto ids = tokenizer_.encode(text, {false, parse_special});
      out.ids.insert(out.ids.end(), ids.begin(), ids.end());
    };
    size_t pos = 0;
    while (pos < rendered.size()) {
      const size_t open = rendered.find(kOpen, pos);
      const size_t close = open == std::string::npos ? open : rendered.find(kClose, open);
      if (open == std::string::npos || close == std::string::npos) {
        append(std::string_view(rendered).substr(pos), true);
        break;
      }
      const auto digits = rendered.substr(open + kOpen.size(), close - open - kOpen.size());
      const bool numeric = !digits.empty() && digits.size() < 9 &&
                           std::all_of(digits.begin(), digits.end(), ::isdigit);
      const size_t index = numeric ? std::stoul(digits) : hidden.size();
      append(std::string_view(rendered).substr(pos, open - pos), true);
      if (index < hidden.size()) {
        append(hidden[index], false);
      } else {  // a client's own delimiter characters: plain text
        append(std::string_view(rendered).substr(open, close + kClose.size() - open), false);
      }
      pos = close + kClose.size();
    }
    if (add_special) {
      out.ids.insert(out.ids.end(), tokenizer_.suffix_ids().begin(), tokenizer_.suffix_ids().end());
    }
  } catch (const Error& e) {
    throw bad_request(e.what(), "messages");
  }
  return out;
}

}  // namespace tessera::server
