#include "chat_output.h"

#include "api_error.h"

namespace tessera::server {

using nlohmann::json;

namespace {

json tool_call_json(const ToolCall& call) {
  return {{"id", call.id},
          {"type", "function"},
          {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
}

// A streamed call's piece: its first carries the id, type and name (OpenAI's shape).
json tool_call_delta_json(const ToolCallDelta& call) {
  json out = {{"index", call.index}};
  json function = json::object();
  if (!call.id.empty()) {
    out["id"] = call.id;
    out["type"] = "function";
    function["name"] = call.name;
  }
  function["arguments"] = call.arguments;
  out["function"] = std::move(function);
  return out;
}

}  // namespace

ChatParsing chat_parsing_for(const json& body, const ChatParsing& server) {
  ChatParsing parsing;
  parsing.reasoning = server.reasoning;
  const bool has_tools =
      body.contains("tools") && body["tools"].is_array() && !body["tools"].empty();
  if (!body.contains("tool_choice") || body["tool_choice"].is_null()) {
    if (has_tools) parsing.tools = server.tools;
    return parsing;
  }
  const json& choice = body["tool_choice"];
  if (choice == "none") return parsing;
  if (choice == "auto") {
    if (!server.tools) {
      throw bad_request(
          "\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be "
          "set",
          "tool_choice");
    }
    if (has_tools) parsing.tools = server.tools;
    return parsing;
  }
  if (choice == "required" || choice.is_object()) {
    throw bad_request(
        "tool_choice \"required\" and named functions are not supported (they need guided "
        "decoding); use \"auto\" with --enable-auto-tool-choice",
        "tool_choice");
  }
  throw bad_request("'tool_choice' must be \"none\", \"auto\", \"required\" or an object",
                    "tool_choice");
}

json chat_message(const ChatParsing& parsing, const std::string& text, bool* called_tools) {
  std::optional<std::string> reasoning;
  std::optional<std::string> content = text.empty() ? std::nullopt : std::optional(text);
  if (parsing.reasoning) {
    auto split = split_reasoning(*parsing.reasoning, text);
    reasoning = std::move(split.reasoning);
    content = std::move(split.content);
  }
  json message = {{"role", "assistant"}};
  json calls = json::array();
  *called_tools = false;
  if (parsing.tools && content) {
    auto split = split_tool_calls(*parsing.tools, *content);
    for (const auto& call : split.calls) calls.push_back(tool_call_json(call));
    *called_tools = !split.calls.empty();
    content = std::move(split.content);
  }
  message["content"] = content ? json(*content) : json();
  if (parsing.reasoning) message["reasoning_content"] = reasoning ? json(*reasoning) : json();
  if (parsing.tools) message["tool_calls"] = calls;
  return message;
}

ChatOutputStream::ChatOutputStream(const ChatParsing& parsing) {
  if (parsing.reasoning) reasoning_ = std::make_unique<ReasoningStream>(*parsing.reasoning);
  if (parsing.tools) tools_ = std::make_unique<ToolCallStream>(*parsing.tools);
}

json ChatOutputStream::delta(std::string_view text, bool finished) {
  std::string reasoning;
  std::string content(text);
  if (reasoning_) {
    auto part = reasoning_->feed(text);
    if (finished) {
      auto rest = reasoning_->finish();
      part.reasoning += rest.reasoning;
      part.content += rest.content;
    }
    reasoning = std::move(part.reasoning);
    content = std::move(part.content);
  }
  json delta = json::object();
  if (tools_) {
    auto part = tools_->feed(content);
    if (finished) {
      auto rest = tools_->finish();
      part.content += rest.content;
      for (auto& call : rest.calls) {
        if (!part.calls.empty() && part.calls.back().index == call.index && call.id.empty()) {
          part.calls.back().arguments += call.arguments;  // one entry per call in a chunk
        } else {
          part.calls.push_back(std::move(call));
        }
      }
    }
    content = std::move(part.content);
    if (!part.calls.empty()) {
      json calls = json::array();
      for (const auto& call : part.calls) calls.push_back(tool_call_delta_json(call));
      delta["tool_calls"] = std::move(calls);
    }
  }
  if (!reasoning.empty()) delta["reasoning_content"] = reasoning;
  if (!content.empty()) delta["content"] = content;
  return delta;
}

}  // namespace tessera::server
