#include "tool_call_parser.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "tessera/check.h"
#include "openai_api.h"

namespace tessera::server {

namespace {

constexpr std::string_view kHermesStart = "<tool_call>";
constexpr std::string_view kHermesEnd = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>";

std::optional<std::string> non_empty(std::string_view text) {
  if (text.empty()) return std::nullopt;
  return std::string(text);
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

size_t held_suffix(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n) {
    if (tag.starts_with(text.substr(text.size() - n))) return n;
  }
  return 0;
}

// One call's JSON ({"name": …, "arguments"|"parameters": …}), or nullopt when it is not one.
std::optional<ToolCall> to_call(std::string_view json_text) {
  const auto parsed = nlohmann::json::parse(trim(json_text), nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("name") ||
      !parsed["name"].is_string()) {
    return std::nullopt;
  }
  ToolCall call;
  call.id = random_id("chatcmpl-tool-");
  call.name = parsed["name"].get<std::string>();
  const char* key = parsed.contains("arguments") ? "arguments" : "parameters";
  if (!parsed.contains(key)) {
    call.arguments = "{}";
  } else if (parsed[key].is_string()) {  // some models write the arguments as a JSON string
    call.arguments = parsed[key].get<std::string>();
  } else {
    call.arguments = dump_json(parsed[key]);
  }
  return call;
}

ToolCallSplit split_hermes(std::string_view text) {
  const auto first = text.find(kHermesStart);
  if (first == std::string_view::npos) return {non_empty(text), {}};
  ToolCallSplit out;
  for (size_t pos = first; pos != std::string_view::npos && pos < text.size();
       pos = text.find(kHermesStart, pos)) {
    const size_t body = pos + kHermesStart.size();
    const size_t end = text.find(kHermesEnd, body);
    auto call = to_call(text.substr(body, end == std::string_view::npos ? end : end - body));
    if (!call) return {non_empty(text), {}};
    out.calls.push_back(std::move(*call));
    pos = end == std::string_view::npos ? text.size() : end + kHermesEnd.size();
  }
  out.content = non_empty(text.substr(0, first));
  return out;
}

ToolCallSplit split_llama3(std::string_view text) {
  std::string_view rest = trim(text);
  if (rest.starts_with(kPythonTag)) {
    rest.remove_prefix(kPythonTag.size());
  } else if (!rest.starts_with("{")) {
    return {non_empty(text), {}};
  }
  ToolCallSplit out;
  for (;;) {
    const auto next = rest.find_first_not_of(" \t\r\n;");
    if (next == std::string_view::npos) break;
    rest.remove_prefix(next);
    const size_t end = rest.front() == '{' ? json_object_end(rest) : 0;
    auto call = end ? to_call(rest.substr(0, end)) : std::nullopt;
    if (!call) return {non_empty(text), {}};
    out.calls.push_back(std::move(*call));
    rest.remove_prefix(end);
  }
  if (out.calls.empty()) return {non_empty(text), {}};
  return out;
}

}  // namespace

ToolCallFormat parse_tool_call_format(std::string_view name) {
  if (name == "hermes") return ToolCallFormat::kHermes;
  if (name == "llama3_json") return ToolCallFormat::kLlama3Json;
  throw Error(fmt::format("unknown tool call parser '{}' (hermes, llama3_json)", name));
}

const char* to_string(ToolCallFormat format) {
  return format == ToolCallFormat::kHermes ? "hermes" : "llama3_json";
}

size_t json_object_end(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return 0;
}

size_t ToolCallScanner::feed(std::string_view text) {
  size_t used = 0;
  for (; used < text.size() && !complete_; ++used) {
    const char c = text[used];
    const size_t at = text_.size();
    text_ += c;
    const bool space = c == ' ' || c == '\t' || c == '\r' || c == '\n';
    if (!started_) {
      started_ = c == '{';
      if (started_) depth_ = 1;
      if (!started_ && !space) invalid_ = true;
      continue;
    }
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
        if (depth_ == 1 && expect_ == Expect::kKey) {
          key_ = text_.substr(string_begin_ + 1, at - string_begin_ - 1);
          expect_ = Expect::kColon;
        } else if (depth_ == 1 && value_.kind == '"' && value_.end == std::string::npos) {
          end_value(at + 1);
        }
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string_ = true;
        string_begin_ = at;
        if (depth_ == 1 && expect_ == Expect::kValue) begin_value(at, '"');
        break;
      case '{':
      case '[':
        if (depth_ == 1 && expect_ == Expect::kValue) begin_value(at, c);
        ++depth_;
        break;
      case '}':
      case ']':
        if (depth_ == 1 && value_.kind == 's' && value_.end == std::string::npos) end_value(at);
        --depth_;
        if (depth_ == 1 && (value_.kind == '{' || value_.kind == '[') &&
            value_.end == std::string::npos) {
          end_value(at + 1);
        }
        complete_ = depth_ == 0;
        break;
      case ',':
        if (depth_ != 1) break;
        if (value_.kind == 's' && value_.end == std::string::npos) end_value(at);
        expect_ = Expect::kKey;
        break;
      case ':':
        if (depth_ == 1 && expect_ == Expect::kColon) expect_ = Expect::kValue;
        break;
      default:
        if (depth_ == 1 && expect_ == Expect::kValue && !space) begin_value(at, 's');
    }
  }
  return used;
}

void ToolCallScanner::begin_value(size_t at, char kind) {
  value_ = Value{key_, at, std::string::npos, kind};
  expect_ = Expect::kAfterValue;
  if (key_ == "name" && kind != '"') invalid_ = true;  // to_call's rule: a string name
  if ((key_ == "arguments" || key_ == "parameters") && arguments_.begin == std::string::npos) {
    arguments_ = value_;
  }
}

void ToolCallScanner::end_value(size_t end) {
  while (value_.kind == 's' && end > value_.begin &&
         std::isspace(static_cast<unsigned char>(text_[end - 1]))) {
    --end;
  }
  value_.end = end;
  if (value_.key == "name" && value_.kind == '"' && !name_) {
    const auto parsed =
        nlohmann::json::parse(text_.substr(value_.begin, end - value_.begin), nullptr, false);
    if (parsed.is_string()) name_ = parsed.get<std::string>();
  }
  if (arguments_.begin == value_.begin) arguments_.end = end;
}

std::string ToolCallScanner::take_arguments() {
  if (arguments_done_) return {};
  if (arguments_.begin == std::string::npos) {
    if (!complete_) return {};
    arguments_done_ = true;
    return "{}";
  }
  const bool ended = arguments_.end != std::string::npos;
  if (arguments_.kind == '{' || arguments_.kind == '[') {  // JSON text: hand it out as it comes
    const size_t from = std::max(arguments_taken_, arguments_.begin);
    const size_t to = ended ? arguments_.end : text_.size();
    arguments_taken_ = to;
    arguments_done_ = ended;
    return text_.substr(from, to - from);
  }
  if (!ended) return {};
  arguments_done_ = true;
  std::string raw = text_.substr(arguments_.begin, arguments_.end - arguments_.begin);
  if (arguments_.kind != '"') return raw;
  const auto parsed = nlohmann::json::parse(raw, nullptr, false);
  return parsed.is_string() ? parsed.get<std::string>() : raw;
}

ToolCallSplit split_tool_calls(ToolCallFormat format, std::string_view text) {
  return format == ToolCallFormat::kHermes ? split_hermes(text) : split_llama3(text);
}

ToolCallStream::ToolCallStream(ToolCallFormat format) : format_(format) {}

ToolCallStream::Delta ToolCallStream::feed(std::string_view text) {
  pending_ += text;
  return format_ == ToolCallFormat::kHermes ? feed_hermes(false) : feed_llama3(false);
}

ToolCallStream::Delta ToolCallStream::finish() {
  return format_ == ToolCallFormat::kHermes ? feed_hermes(true) : feed_llama3(true);
}

ToolCallStream::Delta ToolCallStream::feed_hermes(bool at_end) {
  Delta out;
  for (;;) {
    if (state_ == State::kCall) {
      const auto end = pending_.find(kHermesEnd);
      const std::string_view body = std::string_view(pending_).substr(0, end);
      if (end == std::string::npos && !at_end) {
        // A possible start of </tool_call> is held back: it may end the call.
        stream_call(body.substr(0, body.size() - held_suffix(body, kHermesEnd)), out);
        return out;
      }
      if (!end_call(body, out)) {  // not a call after all: pass it on as text
        out.content += std::string(kHermesStart) +
                       pending_.substr(0, end == std::string::npos ? end : end + kHermesEnd.size());
      }
      pending_.erase(0, end == std::string::npos ? end : end + kHermesEnd.size());
      state_ = State::kDropping;  // as in whole outputs, text after the first call is dropped
      if (pending_.empty()) return out;
      continue;
    }
    // kStart, kContent, kDropping: look for the next call.
    const auto at = pending_.find(kHermesStart);
    const size_t settled = at != std::string::npos ? at
                           : at_end                ? pending_.size()
                                    : pending_.size() - held_suffix(pending_, kHermesStart);
    if (state_ != State::kDropping) out.content += pending_.substr(0, settled);
    if (at == std::string::npos) {
      pending_.erase(0, settled);
      return out;
    }
    pending_.erase(0, at + kHermesStart.size());
    state_ = State::kCall;
  }
}

ToolCallStream::Delta ToolCallStream::feed_llama3(bool at_end) {
  Delta out;
  for (;;) {
    switch (state_) {
      case State::kStart: {
        const std::string_view text = trim(pending_);
        if (text.starts_with(kPythonTag)) {
          pending_.erase(0, pending_.find(kPythonTag) + kPythonTag.size());
          state_ = State::kCall;
        } else if (text.starts_with("{")) {
          state_ = State::kCall;
        } else if (!at_end && kPythonTag.starts_with(text)) {
          return out;  // empty, or maybe the start of <|python_tag|>
        } else {
          state_ = State::kContent;
        }
        continue;
      }
      case State::kContent:
      case State::kDropping:
        out.content += pending_;
        pending_.clear();
        return out;
      case State::kCall: {
        const auto next = pending_.find_first_not_of(" \t\r\n;");
        if (next == std::string::npos) {
          if (at_end) pending_.clear();
          return out;
        }
        if (pending_[next] != '{') {  // not a call list after all: the rest is text
          state_ = State::kContent;
          continue;
        }
        const std::string_view body = std::string_view(pending_).substr(next);
        stream_call(body, out);
        if (!scanner_.complete()) {
          if (!at_end) return out;
          if (end_call(body, out)) {  // announced, then cut short: the call stands
            pending_.clear();
            return out;
          }
          state_ = State::kContent;  // an unfinished object at the end: text
          continue;
        }
        const size_t end = scanner_.text().size();
        if (!end_call(body.substr(0, end), out)) out.content += pending_.substr(0, next + end);
        pending_.erase(0, next + end);
        continue;
      }
    }
  }
}

void ToolCallStream::stream_call(std::string_view body, Delta& out) {
  if (scanned_ < body.size()) scanned_ += scanner_.feed(body.substr(scanned_));
  if (!announced_ && scanner_.name() && !scanner_.invalid()) {
    announced_ = true;
    out.calls.push_back({num_calls_++, random_id("chatcmpl-tool-"), *scanner_.name(), ""});
  }
  if (announced_) append_arguments(scanner_.take_arguments(), out);
}

bool ToolCallStream::end_call(std::string_view body, Delta& out) {
  if (announced_) {
    stream_call(body, out);
  } else if (auto call = to_call(body)) {
    out.calls.push_back({num_calls_++, call->id, call->name, call->arguments});
  } else {
    reset_call();
    return false;
  }
  reset_call();
  return true;
}

void ToolCallStream::append_arguments(std::string text, Delta& out) {
  if (text.empty()) return;
  const size_t index = num_calls_ - 1;
  if (!out.calls.empty() && out.calls.back().index == index) {
    out.calls.back().arguments += text;
  } else {
    out.calls.push_back({index, "", "", std::move(text)});
  }
}

void ToolCallStream::reset_call() {
  scanner_ = ToolCallScanner();
  scanned_ = 0;
  announced_ = false;
}

}  // namespace tessera::server
