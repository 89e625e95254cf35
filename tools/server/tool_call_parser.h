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
// which is held back. A call is announced (index, id, name) as soon as its "name" is read, and
// its arguments follow piece by piece as the model writes them: the deltas vLLM's parsers send,
// which OpenAI clients concatenate. Until the name is read nothing of a call is sent, so a
// block that is not a call after all is passed on as text. Once announced, a call stands even
// if the model stops before its JSON is complete (as in vLLM): its arguments are then cut short.
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

// Reads one call's JSON object ({"name": …, "arguments"|"parameters": …}) as it arrives: knows
// the name once its string is closed, and hands out the arguments' text as it grows. Only the
// object's top level is interpreted; nested values are passed through as the model wrote them.
class ToolCallScanner {
 public:
  // Reads `text`, the continuation of what was fed before; returns how many of its bytes
  // belong to the object (all of them until the closing brace).
  size_t feed(std::string_view text);
  bool complete() const { return complete_; }
  // Cannot be a call: text before the '{', or a "name" that is not a string.
  bool invalid() const { return invalid_; }
  const std::optional<std::string>& name() const { return name_; }
  const std::string& text() const { return text_; }  // the object's text read so far
  // The arguments' text read since the last call. An object or array value is handed out as
  // it arrives; a string value (some models quote the arguments) decoded, once it is closed;
  // once the object is complete, "{}" when it had no arguments.
  std::string take_arguments();

 private:
  enum class Expect { kKey, kColon, kValue, kAfterValue };
  struct Value {
    std::string key;
    size_t begin = std::string::npos;
    size_t end = std::string::npos;  // npos while open
    char kind = 0;                   // '{', '[', '"', or 's' (scalar)
  };
  void begin_value(size_t at, char kind);
  void end_value(size_t end);

  std::string text_;
  bool started_ = false, complete_ = false, invalid_ = false;
  bool in_string_ = false, escaped_ = false;
  int depth_ = 0;
  Expect expect_ = Expect::kKey;
  size_t string_begin_ = 0;
  std::string key_;
  Value value_;      // the top-level value being read
  Value arguments_;  // "arguments" (or "parameters", whichever comes first)
  size_t arguments_taken_ = 0;
  bool arguments_done_ = false;
  std::optional<std::string> name_;
};

struct ToolCallDelta {
  size_t index = 0;       // the call's position in the choice's tool_calls
  std::string id;         // in the call's first delta only, with the name
  std::string name;       // in the call's first delta only
  std::string arguments;  // the next piece of the arguments' JSON text
};

class ToolCallStream {
 public:
  explicit ToolCallStream(ToolCallFormat format);

  struct Delta {
    std::string content;
    std::vector<ToolCallDelta> calls;
  };
  Delta feed(std::string_view text);
  Delta finish();
  // Calls announced so far (the index of the next one).
  size_t num_calls() const { return num_calls_; }

 private:
  enum class State { kStart, kContent, kCall, kDropping };
  Delta feed_hermes(bool at_end);
  Delta feed_llama3(bool at_end);
  // Feeds the scanner what it has not seen of `body` and sends what it allows: the
  // announcement once the name is read, then the arguments so far.
  void stream_call(std::string_view body, Delta& out);
  // The call's end: when announced, its last arguments; otherwise the whole call when `body`
  // is one (true), or nothing (false: the caller passes the block on as text).
  bool end_call(std::string_view body, Delta& out);
  void append_arguments(std::string text, Delta& out);
  void reset_call();

  ToolCallFormat format_;
  State state_ = State::kStart;
  std::string pending_;
  size_t num_calls_ = 0;
  ToolCallScanner scanner_;  // the call being read
  size_t scanned_ = 0;       // bytes of the call's body fed to scanner_
  bool announced_ = false;   // its id and name were sent
};

// The end of the JSON object that starts at text[0] ('{'): one past its closing brace, or 0
// while it is incomplete. Strings and escapes are respected.
size_t json_object_end(std::string_view text);

}  // namespace tessera::server
