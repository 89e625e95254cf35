// Reasoning parsers (`tessera serve --reasoning-parser deepseek_r1|qwen3`): split a chat
// completion's text into `reasoning_content` (the model's <think>…</think> part) and
// `content`, as vLLM's parsers of the same names do, for whole outputs and for streams.
//
//   deepseek_r1: DeepSeek-R1's template already opens <think> in the prompt, so the output
//                is reasoning from its start (a leading <think> is dropped) up to </think>;
//                with no </think> at all, everything is reasoning.
//   qwen3:       only text between <think> and </think> is reasoning; a whole output
//                without both tags is all content (vLLM's rule). A stream, which cannot
//                look ahead, treats text after <think> as reasoning until </think>.
//
// Streaming works on text deltas, not token ids: a delta ending in a prefix of the tag
// being looked for ("</thi") is held back until the next delta settles it, so a tag split
// across deltas (or tokens) is still found and never leaks into either field.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tessera::server {

enum class ReasoningFormat { kDeepSeekR1, kQwen3 };

// "deepseek_r1" | "qwen3"; throws tessera::Error naming the accepted values.
ReasoningFormat parse_reasoning_format(std::string_view name);
const char* to_string(ReasoningFormat format);

struct ReasoningSplit {
  std::optional<std::string> reasoning;  // null when the output has none
  std::optional<std::string> content;    // null when empty
};

// The whole-output split (non-streaming responses).
ReasoningSplit split_reasoning(ReasoningFormat format, std::string_view text);

class ReasoningStream {
 public:
  explicit ReasoningStream(ReasoningFormat format);

  struct Delta {
    std::string reasoning;
    std::string content;
  };
  // The parts of the text so far that are settled; text that may be the start of a tag is
  // kept for the next call.
  Delta feed(std::string_view text);
  // End of the output: whatever was held back, in the field it was heading for.
  Delta finish();

 private:
  enum class State { kStart, kContent, kReasoning, kAfterReasoning };
  ReasoningFormat format_;
  State state_ = State::kStart;
  std::string pending_;  // text not yet settled
};

}  // namespace tessera::server
