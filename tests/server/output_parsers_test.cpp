// The chat output parsers of tools/server: reasoning (deepseek_r1, qwen3) and tool calls
// (hermes, llama3_json), whole and streamed. Streams are cut at every byte position (and at
// every pair of positions for the short cases), so tag and JSON boundaries fall inside every
// token of the markers and of the call's JSON; the streamed pieces must add up to the
// whole-output parse, and no part of a marker may leak into a field.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api_error.h"
#include "chat_output.h"
#include "common/check.h"
#include "reasoning_parser.h"
#include "tool_call_parser.h"

using namespace tessera::server;
using nlohmann::json;

namespace {

// The text cut at the given positions (sorted, within the text).
std::vector<std::string> cut(const std::string& text, const std::vector<size_t>& at) {
  std::vector<std::string> pieces;
  size_t begin = 0;
  for (size_t pos : at) {
    pieces.push_back(text.substr(begin, pos - begin));
    begin = pos;
  }
  pieces.push_back(text.substr(begin));
  return pieces;
}

// Every way to cut `text` once, and (when `pairs`) twice.
std::vector<std::vector<std::string>> all_cuts(const std::string& text, bool pairs) {
  std::vector<std::vector<std::string>> out;
  for (size_t i = 0; i <= text.size(); ++i) {
    out.push_back(cut(text, {i}));
    if (!pairs) continue;
    for (size_t j = i; j <= text.size(); ++j) out.push_back(cut(text, {i, j}));
  }
  // One byte at a time.
  std::vector<size_t> every;
  for (size_t i = 1; i < text.size(); ++i) every.push_back(i);
  out.push_back(cut(text, every));
  return out;
}

struct Streamed {
  std::string reasoning;
  std::string content;
};

Streamed stream_reasoning(ReasoningFormat format, const std::vector<std::string>& pieces) {
  ReasoningStream stream(format);
  Streamed out;
  for (const auto& piece : pieces) {
    auto d = stream.feed(piece);
    out.reasoning += d.reasoning;
    out.content += d.content;
  }
  auto d = stream.finish();
  out.reasoning += d.reasoning;
  out.content += d.content;
  return out;
}

void expect_stream_matches_whole(ReasoningFormat format, const std::string& text, bool pairs) {
  const auto whole = split_reasoning(format, text);
  for (const auto& pieces : all_cuts(text, pairs)) {
    const auto s = stream_reasoning(format, pieces);
    ASSERT_EQ(s.reasoning, whole.reasoning.value_or("")) << text << " in " << pieces.size();
    ASSERT_EQ(s.content, whole.content.value_or("")) << text << " in " << pieces.size();
  }
}

}  // namespace

TEST(ReasoningParser, DeepSeekR1WholeOutputs) {
  auto s = split_reasoning(ReasoningFormat::kDeepSeekR1, "<think>a plan</think>\n\nThe answer");
  EXPECT_EQ(s.reasoning, "a plan");
  EXPECT_EQ(s.content, "\n\nThe answer");
  // The template opened <think> in the prompt: the output starts inside the reasoning.
  s = split_reasoning(ReasoningFormat::kDeepSeekR1, "a plan</think>answer");
  EXPECT_EQ(s.reasoning, "a plan");
  EXPECT_EQ(s.content, "answer");
  // No </think>: all reasoning (cut off by max_tokens).
  s = split_reasoning(ReasoningFormat::kDeepSeekR1, "still thinking");
  EXPECT_EQ(s.reasoning, "still thinking");
  EXPECT_FALSE(s.content.has_value());
  s = split_reasoning(ReasoningFormat::kDeepSeekR1, "<think>x</think>");
  EXPECT_EQ(s.reasoning, "x");
  EXPECT_FALSE(s.content.has_value());
}

TEST(ReasoningParser, Qwen3WholeOutputs) {
  auto s = split_reasoning(ReasoningFormat::kQwen3, "<think>\nhmm\n</think>\n\nHello");
  EXPECT_EQ(s.reasoning, "\nhmm\n");
  EXPECT_EQ(s.content, "\n\nHello");
  // Without both tags the whole output is content (vLLM's rule).
  s = split_reasoning(ReasoningFormat::kQwen3, "Hello</think>");
  EXPECT_FALSE(s.reasoning.has_value());
  EXPECT_EQ(s.content, "Hello</think>");
  s = split_reasoning(ReasoningFormat::kQwen3, "<think>unfinished");
  EXPECT_FALSE(s.reasoning.has_value());
  EXPECT_EQ(s.content, "<think>unfinished");
  s = split_reasoning(ReasoningFormat::kQwen3, "");
  EXPECT_FALSE(s.reasoning.has_value());
  EXPECT_FALSE(s.content.has_value());
}

TEST(ReasoningParser, StreamsSplitInsideTagsMatchWholeOutputs) {
  for (const char* text :
       {"<think>a plan</think>\n\nThe answer", "a plan</think>answer",
        "just thinking <thin> </thin", "<think></think>", "<th", "", "x</think>y</think>z"}) {
    expect_stream_matches_whole(ReasoningFormat::kDeepSeekR1, text, true);
  }
  for (const char* text : {"<think>\nhmm\n</think>\n\nHello", "no tags at all <", "<thinking>",
                           "<think>a</think>b<think>c</think>"}) {
    expect_stream_matches_whole(ReasoningFormat::kQwen3, text, true);
  }
}

TEST(ReasoningParser, StreamHoldsAPossibleTagBack) {
  ReasoningStream stream(ReasoningFormat::kQwen3);
  auto d = stream.feed("<thi");
  EXPECT_EQ(d.content, "");  // could still be <think>
  d = stream.feed("nk>reason</th");
  EXPECT_EQ(d.reasoning, "reason");
  EXPECT_EQ(d.content, "");
  d = stream.feed("ink>ok");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "ok");
  // A qwen3 stream that opened <think> but never closed it: reasoning (it cannot look ahead).
  ReasoningStream open(ReasoningFormat::kQwen3);
  const auto s = stream_reasoning(ReasoningFormat::kQwen3, {"<think>abc", "</thi"});
  EXPECT_EQ(s.reasoning, "abc</thi");
  EXPECT_EQ(s.content, "");
}

TEST(ReasoningParser, NamesAreVllms) {
  EXPECT_EQ(parse_reasoning_format("deepseek_r1"), ReasoningFormat::kDeepSeekR1);
  EXPECT_EQ(parse_reasoning_format("qwen3"), ReasoningFormat::kQwen3);
  EXPECT_THROW(parse_reasoning_format("granite"), tessera::Error);
}

namespace {

struct StreamedCalls {
  std::string content;
  std::vector<ToolCall> calls;
};

StreamedCalls stream_calls(ToolCallFormat format, const std::vector<std::string>& pieces,
                           const std::string& whole_text, size_t expected_calls) {
  ToolCallStream stream(format);
  StreamedCalls out;
  std::string seen;
  // A call's first delta carries its id and name, the next ones pieces of its arguments.
  const auto take = [&](ToolCallStream::Delta d) {
    out.content += d.content;
    for (auto& call : d.calls) {
      if (!call.id.empty()) {
        ASSERT_EQ(call.index, out.calls.size()) << whole_text;
        // Announced only once its name was read.
        EXPECT_NE(seen.find('"' + call.name + '"'), std::string::npos) << seen;
        out.calls.push_back({call.id, call.name, call.arguments});
      } else {
        ASSERT_EQ(call.index + 1, out.calls.size()) << whole_text;
        out.calls.back().arguments += call.arguments;
      }
    }
  };
  for (const auto& piece : pieces) {
    seen += piece;
    take(stream.feed(piece));
    EXPECT_LE(out.calls.size(), expected_calls);
  }
  take(stream.finish());
  EXPECT_EQ(stream.num_calls(), out.calls.size()) << whole_text;
  return out;
}

void expect_calls_stream_matches_whole(ToolCallFormat format, const std::string& text, bool pairs) {
  const auto whole = split_tool_calls(format, text);
  for (const auto& pieces : all_cuts(text, pairs)) {
    const auto s = stream_calls(format, pieces, text, whole.calls.size());
    ASSERT_EQ(s.content, whole.content.value_or("")) << text;
    ASSERT_EQ(s.calls.size(), whole.calls.size()) << text;
    for (size_t i = 0; i < s.calls.size(); ++i) {
      EXPECT_EQ(s.calls[i].name, whole.calls[i].name);
      EXPECT_EQ(json::parse(s.calls[i].arguments), json::parse(whole.calls[i].arguments));
      EXPECT_TRUE(s.calls[i].id.starts_with("chatcmpl-tool-"));
    }
  }
}

const std::string kHermesTwoCalls =
    "Let me check.<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
    "\"Paris {\\\"x\\\"}\", \"days\": [1, 2]}}\n</tool_call>\n<tool_call>{\"name\": \"get_time\", "
    "\"arguments\": {}}</tool_call>";

}  // namespace

TEST(ToolCallParser, HermesWholeOutputs) {
  auto s = split_tool_calls(ToolCallFormat::kHermes, kHermesTwoCalls);
  EXPECT_EQ(s.content, "Let me check.");
  ASSERT_EQ(s.calls.size(), 2u);
  EXPECT_EQ(s.calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(s.calls[0].arguments),
            json::parse(R"({"city": "Paris {\"x\"}", "days": [1, 2]})"));
  EXPECT_EQ(s.calls[1].name, "get_time");
  EXPECT_EQ(s.calls[1].arguments, "{}");
  EXPECT_NE(s.calls[0].id, s.calls[1].id);
  // No call: all content. A broken call: all content (vLLM's rule).
  s = split_tool_calls(ToolCallFormat::kHermes, "just text");
  EXPECT_EQ(s.content, "just text");
  EXPECT_TRUE(s.calls.empty());
  s = split_tool_calls(ToolCallFormat::kHermes, "<tool_call>{not json}</tool_call>");
  EXPECT_EQ(s.content, "<tool_call>{not json}</tool_call>");
  EXPECT_TRUE(s.calls.empty());
  // An unterminated last call is still parsed; a call alone has null content.
  s = split_tool_calls(ToolCallFormat::kHermes, "<tool_call>{\"name\": \"f\", \"arguments\": {}}");
  EXPECT_FALSE(s.content.has_value());
  ASSERT_EQ(s.calls.size(), 1u);
  EXPECT_EQ(s.calls[0].name, "f");
}

TEST(ToolCallParser, HermesStreamsSplitInsideMarkersAndJson) {
  expect_calls_stream_matches_whole(ToolCallFormat::kHermes, kHermesTwoCalls, false);
  expect_calls_stream_matches_whole(
      ToolCallFormat::kHermes, "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": \"}\"}}", true);
  expect_calls_stream_matches_whole(ToolCallFormat::kHermes, "a < b <tool_ c", true);
  // Arguments before the name, arguments as a JSON string, no arguments, a nested "name".
  expect_calls_stream_matches_whole(
      ToolCallFormat::kHermes,
      "<tool_call>{\"arguments\": {\"x\": 1}, \"name\": \"f\"}</tool_call>", true);
  expect_calls_stream_matches_whole(
      ToolCallFormat::kHermes,
      "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": [1]}\"}</tool_call>", true);
  expect_calls_stream_matches_whole(ToolCallFormat::kHermes,
                                    "<tool_call>{\"name\": \"g\"}</tool_call>", true);
  expect_calls_stream_matches_whole(
      ToolCallFormat::kHermes,
      "<tool_call>{\"arguments\": {\"name\": 3}, \"name\": \"h\", \"n\": null}</tool_call>", true);
  expect_calls_stream_matches_whole(
      ToolCallFormat::kHermes, "<tool_call>{\"name\": 7, \"arguments\": {}}</tool_call>", true);
}

TEST(ToolCallParser, ArgumentsStreamAsTheModelWritesThem) {
  ToolCallStream stream(ToolCallFormat::kHermes);
  auto d = stream.feed("Sure.<tool_call>\n{\"name\": \"ru");
  EXPECT_EQ(d.content, "Sure.");
  EXPECT_TRUE(d.calls.empty());  // the name is not read yet
  d = stream.feed("n\", \"arguments\": {\"code\": \"print(");
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_EQ(d.calls[0].index, 0u);
  EXPECT_TRUE(d.calls[0].id.starts_with("chatcmpl-tool-"));
  EXPECT_EQ(d.calls[0].name, "run");
  EXPECT_EQ(d.calls[0].arguments, "{\"code\": \"print(");
  d = stream.feed("1)\"}}\n</tool_");
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_TRUE(d.calls[0].id.empty());
  EXPECT_EQ(d.calls[0].arguments, "1)\"}");
  d = stream.feed("call>");
  EXPECT_TRUE(d.calls.empty());
  EXPECT_EQ(d.content, "");
  // Cut short after the announcement (max_tokens): the call stands with what was written,
  // while the whole-output parse of the same text finds no call (the JSON is incomplete).
  ToolCallStream cut(ToolCallFormat::kLlama3Json);
  d = cut.feed("{\"name\": \"f\", \"parameters\": {\"a\": [1, ");
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_EQ(d.calls[0].arguments, "{\"a\": [1, ");
  d = cut.finish();
  EXPECT_TRUE(d.calls.empty());
  EXPECT_EQ(d.content, "");
  EXPECT_EQ(cut.num_calls(), 1u);
}

TEST(ToolCallParser, Llama3JsonWholeOutputs) {
  auto s = split_tool_calls(ToolCallFormat::kLlama3Json,
                            "{\"name\": \"f\", \"parameters\": {\"x\": 1}}; {\"name\": \"g\", "
                            "\"arguments\": {\"y\": \"}\"}}");
  EXPECT_FALSE(s.content.has_value());
  ASSERT_EQ(s.calls.size(), 2u);
  EXPECT_EQ(s.calls[0].name, "f");
  EXPECT_EQ(json::parse(s.calls[0].arguments), json::parse(R"({"x": 1})"));
  EXPECT_EQ(s.calls[1].name, "g");
  s = split_tool_calls(ToolCallFormat::kLlama3Json,
                       "<|python_tag|>{\"name\": \"f\", \"parameters\": {}}");
  ASSERT_EQ(s.calls.size(), 1u);
  s = split_tool_calls(ToolCallFormat::kLlama3Json, "The answer is {1}");
  EXPECT_EQ(s.content, "The answer is {1}");
  EXPECT_TRUE(s.calls.empty());
  s = split_tool_calls(ToolCallFormat::kLlama3Json, "{\"no_name\": 1}");
  EXPECT_EQ(s.content, "{\"no_name\": 1}");
  EXPECT_TRUE(s.calls.empty());
}

TEST(ToolCallParser, Llama3JsonStreamsSplitInsideJson) {
  expect_calls_stream_matches_whole(
      ToolCallFormat::kLlama3Json,
      "{\"name\": \"f\", \"parameters\": {\"x\": [1, {\"z\": \"a;b\"}]}}; {\"name\": \"g\", "
      "\"parameters\": {}}",
      false);
  expect_calls_stream_matches_whole(ToolCallFormat::kLlama3Json,
                                    "<|python_tag|>{\"name\": \"f\", \"parameters\": {}}", true);
  expect_calls_stream_matches_whole(ToolCallFormat::kLlama3Json, "Plain <|py text", true);
}

TEST(ToolCallParser, JsonObjectEnd) {
  EXPECT_EQ(json_object_end("{}"), 2u);
  EXPECT_EQ(json_object_end("{\"a\": \"}\"} rest"), 10u);
  EXPECT_EQ(json_object_end("{\"a\": \"\\\"}\"}"), 12u);
  EXPECT_EQ(json_object_end("{\"a\": [1, {"), 0u);
}

TEST(ChatOutput, ToolChoiceFollowsVllm) {
  ChatParsing server;
  const json tools = json::array({{{"type", "function"}, {"function", {{"name", "f"}}}}});
  // Tools without the server flag: rendered into the prompt, no parsing.
  EXPECT_FALSE(chat_parsing_for({{"tools", tools}}, server).tools.has_value());
  EXPECT_THROW(chat_parsing_for({{"tools", tools}, {"tool_choice", "auto"}}, server), ApiError);
  server.tools = ToolCallFormat::kHermes;
  EXPECT_TRUE(chat_parsing_for({{"tools", tools}}, server).tools.has_value());
  EXPECT_TRUE(chat_parsing_for({{"tools", tools}, {"tool_choice", "auto"}}, server).tools);
  EXPECT_FALSE(chat_parsing_for({{"tools", tools}, {"tool_choice", "none"}}, server).tools);
  EXPECT_FALSE(chat_parsing_for(json::object(), server).tools);  // no tools offered
  EXPECT_THROW(chat_parsing_for({{"tools", tools}, {"tool_choice", "required"}}, server), ApiError);
  EXPECT_THROW(
      chat_parsing_for({{"tools", tools}, {"tool_choice", {{"type", "function"}}}}, server),
      ApiError);
  EXPECT_THROW(chat_parsing_for({{"tools", tools}, {"tool_choice", 3}}, server), ApiError);
}

TEST(ChatOutput, ReasoningThenToolCallsWholeAndStreamed) {
  ChatParsing parsing;
  parsing.reasoning = ReasoningFormat::kQwen3;
  parsing.tools = ToolCallFormat::kHermes;
  const std::string text =
      "<think>need weather</think>\n<tool_call>{\"name\": \"w\", \"arguments\": {\"c\": "
      "\"x\"}}</tool_call>";
  bool called = false;
  const json message = chat_message(parsing, text, &called);
  EXPECT_TRUE(called);
  EXPECT_EQ(message["reasoning_content"], "need weather");
  EXPECT_EQ(message["content"], "\n");
  ASSERT_EQ(message["tool_calls"].size(), 1u);
  EXPECT_EQ(message["tool_calls"][0]["function"]["name"], "w");
  EXPECT_EQ(message["tool_calls"][0]["type"], "function");

  for (const auto& pieces : all_cuts(text, false)) {
    ChatOutputStream stream(parsing);
    std::string reasoning, content;
    json calls = json::array();
    for (size_t i = 0; i < pieces.size(); ++i) {
      const json delta = stream.delta(pieces[i], i + 1 == pieces.size());
      reasoning += delta.value("reasoning_content", "");
      content += delta.value("content", "");
      // As an OpenAI client: the first piece of a call has its id, type and name; the
      // arguments of every piece are concatenated per index.
      for (const auto& call : delta.value("tool_calls", json::array())) {
        if (call.contains("id")) {
          EXPECT_EQ(call["index"], calls.size());
          EXPECT_EQ(call["type"], "function");
          calls.push_back(call);
        } else {
          ASSERT_EQ(call["index"], calls.size() - 1);
          EXPECT_FALSE(call["function"].contains("name"));
          calls.back()["function"]["arguments"] =
              calls.back()["function"]["arguments"].get<std::string>() +
              call["function"]["arguments"].get<std::string>();
        }
      }
    }
    EXPECT_EQ(reasoning, "need weather");
    EXPECT_EQ(content, "\n");
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0]["index"], 0);
    EXPECT_EQ(calls[0]["function"]["name"], "w");
    EXPECT_EQ(json::parse(calls[0]["function"]["arguments"].get<std::string>()),
              json::parse(R"({"c": "x"})"));
    EXPECT_TRUE(stream.called_tools());
  }
  // Without parsers' output markers, a message is plain content with null reasoning.
  const json plain = chat_message(parsing, "hello", &called);
  EXPECT_FALSE(called);
  EXPECT_EQ(plain["content"], "hello");
  EXPECT_TRUE(plain["reasoning_content"].is_null());
  EXPECT_TRUE(plain["tool_calls"].empty());
}
