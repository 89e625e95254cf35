// Chat-completion output parsing: the server's reasoning parser (reasoning_parser.h) and
// tool-call parser (tool_call_parser.h) applied in vLLM's order — reasoning first, then tool
// calls in what remains — for whole messages and for SSE deltas.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "reasoning_parser.h"
#include "tool_call_parser.h"

namespace tessera::server {

// Which parsers apply to one chat request.
struct ChatParsing {
  std::optional<ReasoningFormat> reasoning;
  std::optional<ToolCallFormat> tools;
  bool any() const { return reasoning.has_value() || tools.has_value(); }
};

// The server's settings (--reasoning-parser; --enable-auto-tool-choice with
// --tool-call-parser) narrowed to one request: tool calls are parsed when the request offers
// `tools` and its tool_choice is "auto" or absent. Throws ApiError(400) as vLLM does for
// tool_choice "auto" without --enable-auto-tool-choice, and for "required" or a named
// function (they need guided decoding, which Tessera does not have).
ChatParsing chat_parsing_for(const nlohmann::json& body, const ChatParsing& server);

// The assistant message of a whole output: role, content (null when empty),
// reasoning_content when a reasoning parser applies, tool_calls when a tool parser applies.
nlohmann::json chat_message(const ChatParsing& parsing, const std::string& text,
                            bool* called_tools);

// One choice's stream.
class ChatOutputStream {
 public:
  explicit ChatOutputStream(const ChatParsing& parsing);
  // The delta object for this text (and the end of the output when `finished`); an empty
  // object when nothing is settled yet.
  nlohmann::json delta(std::string_view text, bool finished);
  bool called_tools() const { return tools_ && tools_->num_calls() > 0; }

 private:
  std::unique_ptr<ReasoningStream> reasoning_;
  std::unique_ptr<ToolCallStream> tools_;
};

}  // namespace tessera::server
