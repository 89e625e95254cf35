// Unit tests of the chat-template interpreter beyond the jinja2 goldens: error positions,
// resource guards (deep nesting, runaway loops, huge output), the public loading helpers,
// the ChatML fallback, and concurrent renders.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "common/check.h"
#include "tessera/chat_template.h"

namespace tessera {
namespace {

using nlohmann::ordered_json;

std::string data_path(const std::string& name) {
  return std::string(TESSERA_TEST_DATA_DIR) + "/templates/" + name;
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string render(const std::string& source, const ordered_json& ctx = ordered_json::object(),
                   const ChatTemplateRenderOptions& options = {}) {
  return ChatTemplate::parse(source, "t").render(ctx, options);
}

// The message of the tessera::Error that parsing or rendering `source` throws.
std::string error_of(const std::string& source, const ordered_json& ctx = ordered_json::object(),
                     const ChatTemplateRenderOptions& options = {}) {
  try {
    render(source, ctx, options);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error from: " << source.substr(0, 200);
  return "";
}

TEST(ChatTemplateErrors, SyntaxErrorsNameLineAndColumn) {
  EXPECT_NE(error_of("hello {{ name").find("t: line 1, column 7"), std::string::npos);
  EXPECT_NE(error_of("a\nb\n  {% for x in y %}").find("line 3, column 3"), std::string::npos);
  EXPECT_NE(error_of("{# open").find("comment"), std::string::npos);
  std::string unknown = error_of("x\n{{ y | frobnicate }}");
  EXPECT_NE(unknown.find("line 2"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("no filter named 'frobnicate'"), std::string::npos) << unknown;
  EXPECT_NE(error_of("{{ 1 + }}").find("expected an expression"), std::string::npos);
  EXPECT_NE(error_of("{% if x %}{% endfor %}").find("unknown or unsupported tag 'endfor'"),
            std::string::npos);
  EXPECT_NE(error_of("{{ 'unterminated }}").find("unterminated string"), std::string::npos);
  EXPECT_NE(error_of("{{ (1 }}").find("line 1"), std::string::npos);
  EXPECT_NE(error_of("{{ x is nosuchtest }}").find("no test named"), std::string::npos);
}

TEST(ChatTemplateErrors, RuntimeErrorsNameTheFailingLine) {
  std::string e = error_of("line1\nline2\n  {{ 'x' + none }}\n");
  EXPECT_NE(e.find("line 3, column 10"), std::string::npos) << e;
  EXPECT_NE(e.find("can only concatenate str"), std::string::npos) << e;
  e = error_of("{% if true %}\n{{ raise_exception('Only user and assistant roles') }}{% endif %}");
  EXPECT_NE(e.find("line 2"), std::string::npos) << e;
  EXPECT_NE(e.find("Only user and assistant roles"), std::string::npos) << e;
  EXPECT_NE(error_of("{{ missing.attr }}").find("'missing' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ x | frob if true else 1 }}").find("no filter named 'frob'"),
            std::string::npos);
}

TEST(ChatTemplateErrors, DeepNestingIsAnErrorNotACrash) {
  const int depth = 5000;
  std::string parens = "{{ " + std::string(depth, '(') + "1" + std::string(depth, ')') + " }}";
  EXPECT_NE(error_of(parens).find("nested too deeply"), std::string::npos);
  std::string lists = "{{ " + std::string(depth, '[') + std::string(depth, ']') + " }}";
  EXPECT_NE(error_of(lists).find("nested too deeply"), std::string::npos);
  std::string nots = "{{ ";
  for (int i = 0; i < depth; ++i) nots += "not ";
  EXPECT_NE(error_of(nots + "1 }}").find("nested too deeply"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < depth; ++i) ifs += "{% if true %}";
  for (int i = 0; i < depth; ++i) ifs += "{% endif %}";
  EXPECT_NE(error_of(ifs).find("nested too deeply"), std::string::npos);
  std::string minus = "{{ " + std::string(depth, '-') + "1 }}";
  EXPECT_NE(error_of(minus).find("nested too deeply"), std::string::npos);
  // Moderate nesting stays fine.
  EXPECT_EQ(render("{{ " + std::string(50, '(') + "7" + std::string(50, ')') + " }}"), "7");
}

TEST(ChatTemplateErrors, RunawayTemplatesHitLimits) {
  std::string e = error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_NE(e.find("macro calls nested deeper than"), std::string::npos) << e;

  ChatTemplateRenderOptions small;
  small.max_output_bytes = 1 << 20;
  e = error_of("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", ordered_json::object(),
               small);
  EXPECT_NE(e.find("output exceeds"), std::string::npos) << e;
  // A value larger than the output budget is refused when built, not after its repr (fuzz
  // finding: the repr of 10 MB of control characters took 12 s under ASan).
  small.max_output_bytes = 1 << 16;
  e = error_of("{{ \"\x19\" * 10001000, 0 }}", ordered_json::object(), small);
  EXPECT_NE(e.find("MemoryError"), std::string::npos) << e;

  ChatTemplateRenderOptions few_steps;
  few_steps.max_steps = 100000;
  e = error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
               ordered_json::object(), few_steps);
  EXPECT_NE(e.find("evaluation steps"), std::string::npos) << e;

  EXPECT_NE(error_of("{{ 'x' * 1000000000000 }}").find("exceeds the limit"), std::string::npos);
  EXPECT_NE(error_of("{{ range(1000000) | length }}").find("Range too big"), std::string::npos);
  EXPECT_NE(error_of("{{ 2 ** 200 }}").find("OverflowError"), std::string::npos);
  EXPECT_NE(error_of("{{ 7 // 0 }}").find("ZeroDivisionError"), std::string::npos);
}

TEST(ChatTemplateExpressions, PythonSemantics) {
  EXPECT_EQ(render("{{ 7 // -2 }} {{ 7 % -3 }} {{ 1 / 4 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }}"),
            "-4 -2 0.25 0.30000000000000004 1e+16 1000000000000000.0");
  EXPECT_EQ(render("{{ 'héllo'[1] }}{{ 'héllo'[::-1] }}{{ 'héllo' | length }}"), "éolléh5");
  EXPECT_EQ(render("{{ x }}", ordered_json{{"x", {{"b", 1}, {"a", "q'"}}}}),
            "{'b': 1, 'a': \"q'\"}");
  EXPECT_EQ(
      render("{{ x | tojson }}", ordered_json{{"x", {{"b", 1.0}, {"a", "\xF0\x9F\x98\x80"}}}}),
      "{\"b\": 1.0, \"a\": \"\xF0\x9F\x98\x80\"}");
  EXPECT_EQ(render("{{ m.reasoning is defined }}|{{ m.content is none }}",
                   ordered_json{{"m", {{"content", nullptr}}}}),
            "False|True");
  // Invalid UTF-8 in a string built by hand must not crash the str methods.
  EXPECT_EQ(render("{{ s.upper() | length }}", ordered_json{{"s", "a\xff b"}}), "4");
}

TEST(ChatTemplateExpressions, StrftimeNowUsesTheInjectedClock) {
  ChatTemplateRenderOptions options;
  std::tm tm{};
  tm.tm_year = 2025 - 1900;
  tm.tm_mon = 0;
  tm.tm_mday = 2;
  std::time_t t = timegm(&tm);
  gmtime_r(&t, &tm);
  options.now = tm;
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y %A') }}", ordered_json::object(), options),
            "02 Jan 2025 Thursday");
  // Without an injected clock it still renders a date.
  EXPECT_EQ(render("{{ strftime_now('%Y') | length }}"), "4");
}

TEST(ChatTemplateApi, NlohmannJsonContextSortsKeysOrderedJsonKeepsThem) {
  auto t = ChatTemplate::parse("{{ d | tojson }}");
  nlohmann::json sorted = {{"d", {{"z", 1}, {"a", 2}}}};
  EXPECT_EQ(t.render(sorted), "{\"a\": 2, \"z\": 1}");
  ordered_json ordered = {{"d", {{"z", 1}, {"a", 2}}}};
  EXPECT_EQ(t.render(ordered), "{\"z\": 1, \"a\": 2}");
  EXPECT_THROW(t.render(ordered_json::array()), Error);
}

TEST(ChatTemplateApi, ChatMLFallbackMatchesTheCommittedFile) {
  EXPECT_EQ(chatml_fallback_template(), read(data_path("chatml_fallback.jinja")));
  auto t = ChatTemplate::parse(chatml_fallback_template(), "chatml");
  ordered_json ctx = {
      {"messages", {{{"role", "system"}, {"content", "S"}}, {{"role", "user"}, {"content", "U"}}}},
      {"add_generation_prompt", true}};
  EXPECT_EQ(t.render(ctx),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplateApi, TemplatesFromTokenizerConfigs) {
  auto qwen = nlohmann::json::parse(read(data_path("qwen3.tokenizer_config.json")));
  auto source = chat_template_from_config(qwen);
  ASSERT_TRUE(source.has_value());
  EXPECT_EQ(*source, read(data_path("qwen3.jinja")));
  auto spm = nlohmann::json::parse(read(data_path("spm-32k-llama2.tokenizer_config.json")));
  EXPECT_FALSE(chat_template_from_config(spm).has_value());

  nlohmann::json named = {
      {"chat_template",
       {{{"name", "default"}, {"template", "D"}}, {{"name", "tool_use"}, {"template", "T"}}}}};
  EXPECT_EQ(chat_template_from_config(named).value(), "D");
  EXPECT_EQ(chat_template_from_config(named, "tool_use").value(), "T");
  EXPECT_FALSE(chat_template_from_config(named, "rag").has_value());
  EXPECT_THROW(chat_template_from_config(nlohmann::json{{"chat_template", 3}}), Error);
}

TEST(ChatTemplateApi, FilesAndChatTemplateArgument) {
  auto from_json = ChatTemplate::from_file(data_path("llama-3.1.tokenizer_config.json"));
  auto from_jinja = ChatTemplate::from_file(data_path("llama-3.1.jinja"));
  EXPECT_EQ(from_json.source(), from_jinja.source());
  EXPECT_THROW(ChatTemplate::from_file(data_path("spm-32k-llama2.tokenizer_config.json")), Error);
  EXPECT_THROW(ChatTemplate::from_file(data_path("does-not-exist.jinja")), Error);

  EXPECT_EQ(load_chat_template_arg(data_path("qwen3.jinja")).source(),
            read(data_path("qwen3.jinja")));
  EXPECT_EQ(load_chat_template_arg("{{ 'inline' }}").render(ordered_json::object()), "inline");
  EXPECT_THROW(load_chat_template_arg("no-such-file.jinja"), Error);
}

TEST(ChatTemplateApi, ConcurrentRendersOfOneTemplate) {
  auto t = ChatTemplate::parse(read(data_path("qwen3.jinja")), "qwen3");
  ordered_json ctx = {{"messages", {{{"role", "user"}, {"content", "hi"}}}},
                      {"add_generation_prompt", true},
                      {"enable_thinking", false}};
  const std::string want = t.render(ctx);
  EXPECT_EQ(want, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 200; ++k) ok[static_cast<size_t>(i)] += t.render(ctx) == want;
    });
  }
  for (auto& th : threads) th.join();
  for (int n : ok) EXPECT_EQ(n, 200);
}

// Hostile or broken templates (every prefix of real templates, random edits of them) must
// either render or fail with tessera::Error: no crash, no hang, no other exception type.
TEST(ChatTemplateRobustness, TruncatedAndMutatedTemplatesFailCleanly) {
  const std::string src = read(data_path("qwen3.jinja")) + read(data_path("llama-3.1-tools.jinja"));
  ordered_json call = {{"type", "function"},
                       {"function", {{"name", "f"}, {"arguments", {{"x", 1}}}}}};
  ordered_json ctx = {
      {"messages",
       {{{"role", "system"}, {"content", "s"}},
        {{"role", "user"}, {"content", "u"}},
        {{"role", "assistant"}, {"content", "<think>r</think>a"}, {"tool_calls", {call}}},
        {{"role", "tool"}, {"content", "t"}}}},
      {"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}},
      {"add_generation_prompt", true},
      {"bos_token", "<s>"}};
  ChatTemplateRenderOptions options;
  options.max_steps = 200000;
  int rendered = 0, failed = 0;
  auto attempt = [&](const std::string& s) {
    try {
      ChatTemplate::parse(s, "mutant").render(ctx, options);
      ++rendered;
    } catch (const Error&) {
      ++failed;
    }
  };
  for (size_t n = 0; n <= src.size(); n += 9) attempt(src.substr(0, n));
  std::mt19937 rng(20240726);
  const std::string alphabet = "{}%#-+()[]'\"|.,:=~*/ \nais0";
  for (int i = 0; i < 1500; ++i) {
    std::string s = src;
    for (int edit = 0, edits = 1 + static_cast<int>(rng() % 4); edit < edits; ++edit) {
      size_t pos = rng() % s.size();
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          s.erase(pos, 1 + rng() % 8);
          break;
        case 1:
          s.insert(pos, 1, c);
          break;
        default:
          s[pos] = c;
      }
    }
    attempt(s);
  }
  EXPECT_GT(rendered, 0);
  EXPECT_GT(failed, 0);
}

}  // namespace
}  // namespace tessera
