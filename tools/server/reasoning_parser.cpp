#include "reasoning_parser.h"

#include "tessera/check.h"

namespace tessera::server {

namespace {

constexpr std::string_view kThinkStart = "<think>";
constexpr std::string_view kThinkEnd = "</think>";

std::optional<std::string> non_empty(std::string_view text) {
  if (text.empty()) return std::nullopt;
  return std::string(text);
}

// Length of the longest suffix of `text` that is a proper prefix of `tag`: the bytes that
// could still become the tag once more text arrives.
size_t held_suffix(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n) {
    if (tag.starts_with(text.substr(text.size() - n))) return n;
  }
  return 0;
}

}  // namespace

ReasoningFormat parse_reasoning_format(std::string_view name) {
  if (name == "deepseek_r1") return ReasoningFormat::kDeepSeekR1;
  if (name == "qwen3") return ReasoningFormat::kQwen3;
  throw Error(fmt::format("unknown reasoning parser '{}' (deepseek_r1, qwen3)", name));
}

const char* to_string(ReasoningFormat format) {
  return format == ReasoningFormat::kDeepSeekR1 ? "deepseek_r1" : "qwen3";
}

ReasoningSplit split_reasoning(ReasoningFormat format, std::string_view text) {
  const bool has_end = text.find(kThinkEnd) != std::string_view::npos;
  if (format == ReasoningFormat::kQwen3 &&
      (text.find(kThinkStart) == std::string_view::npos || !has_end)) {
    return {std::nullopt, non_empty(text)};
  }
  if (const auto start = text.find(kThinkStart); start != std::string_view::npos) {
    text = text.substr(start + kThinkStart.size());
  }
  const auto end = text.find(kThinkEnd);
  if (end == std::string_view::npos) return {std::string(text), std::nullopt};
  return {std::string(text.substr(0, end)), non_empty(text.substr(end + kThinkEnd.size()))};
}

ReasoningStream::ReasoningStream(ReasoningFormat format) : format_(format) {}

ReasoningStream::Delta ReasoningStream::feed(std::string_view text) {
  Delta out;
  pending_ += text;
  // Moves the settled part of pending_ (all but a possible start of `tag`) into `field`;
  // true when `tag` was found (and consumed).
  auto advance_to = [&](std::string_view tag, std::string& field) {
    const auto at = pending_.find(tag);
    if (at != std::string::npos) {
      field += pending_.substr(0, at);
      pending_.erase(0, at + tag.size());
      return true;
    }
    const size_t hold = held_suffix(pending_, tag);
    field += pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return false;
  };
  for (;;) {
    switch (state_) {
      case State::kStart:
        if (pending_.starts_with(kThinkStart)) {
          pending_.erase(0, kThinkStart.size());
          state_ = State::kReasoning;
          continue;
        }
        if (kThinkStart.starts_with(pending_)) return out;  // too short to tell yet
        state_ = format_ == ReasoningFormat::kDeepSeekR1 ? State::kReasoning : State::kContent;
        continue;
      case State::kContent:
        if (!advance_to(kThinkStart, out.content)) return out;
        state_ = State::kReasoning;
        continue;
      case State::kReasoning:
        if (!advance_to(kThinkEnd, out.reasoning)) return out;
        state_ = State::kAfterReasoning;
        continue;
      case State::kAfterReasoning:
        out.content += pending_;
        pending_.clear();
        return out;
    }
  }
}

ReasoningStream::Delta ReasoningStream::finish() {
  Delta out;
  const bool reasoning = state_ == State::kReasoning ||
                         (state_ == State::kStart && format_ == ReasoningFormat::kDeepSeekR1);
  (reasoning ? out.reasoning : out.content) = std::move(pending_);
  pending_.clear();
  return out;
}

}  // namespace tessera::server
