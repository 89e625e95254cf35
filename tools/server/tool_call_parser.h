// Tool-call parsers (`tessera serve --enable-auto-tool-choice --tool-call-parser
// hermes|llama3_json`): find the function calls in a chat completion's text and return them
// as OpenAI `tool_calls`, as vLLM's parsers of the same names do.
//
//   hermes:      calls are <tool_call>{"name": …, "arguments": {…}}</tool_call> blocks (Qwen2.5,
//                Qwen3, Hermes templates); the text before the first block is the content,
//                text after it is dropped. A last block without its closing tag is parsed too.
//   llama3_json: an output that starts with <|python_tag|> or '{' is a list of JSON objects
//                {"name": …, "parameters" or "arguments": {…}} separated by ';' (Llama 3.1+
//                templates); anything else is plain content.
// A call that is not valid JSON with a string "name" makes the whole output plain content
// (vLLM's rule) when parsing whole outputs.
//
// Streaming: content is passed on as it comes, except for a possible start of a call marker,
// which is held back; each call is emitted whole (id, name and complete arguments in one
// delta) as soon as its JSON is complete, which OpenAI clients accumulate like vLLM's
// argument-by-argument deltas. In a stream, a call that fails to parse is passed on as text.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::server {

enum class ToolCallFormat { kHermes, kLlama3Json };

// "hermes" | "llama3_json"; throws tessera::Error naming the accepted values.
ToolCallFormat parse_tool_call_format(std::string_view name);
const char* to_string(ToolCallFormat format);

struct ToolCall {
  std::string id;  // "chatcmpl-tool-…"
  std::string name;
  std::string arguments;  // a JSON text, as OpenAI sends it
};

struct ToolCallSplit {
  std::optional<std::string> content;  // null when empty
  std::vector<ToolCall> calls;
};

// The whole-output parse (non-streaming responses).
ToolCallSplit split_tool_calls(ToolCallFormat format, std::string_view text);

class ToolCallStream {
 public:
  explicit ToolCallStream(ToolCallFormat format);

  struct Delta {
    std::string content;
    std::vector<ToolCall> calls;
  };
  Delta feed(std::string_view text);
  Delta finish();
  // Calls emitted so far (the index of the next one).
  size_t num_calls() const { return num_calls_; }

 private:
  enum class State { kStart, kContent, kCall, kDropping };
  Delta feed_hermes(bool at_end);
  Delta feed_llama3(bool at_end);

  ToolCallFormat format_;
  State state_ = State::kStart;
  std::string pending_;
  size_t num_calls_ = 0;
};

// The end of the JSON object that starts at text[0] ('{'): one past its closing brace, or 0
// while it is incomplete. Strings and escapes are respected.
size_t json_object_end(std::string_view text);

}  // namespace tessera::server
