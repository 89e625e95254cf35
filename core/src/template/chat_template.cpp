// ChatTemplate (see tessera/chat_template.h): parse once, render many times; turns interpreter
// errors into tessera::Error with the template's name and the line/column of the failure.
#include "tessera/chat_template.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/check.h"
#include "template/ast.h"
#include "template/interpreter.h"
#include "template/lexer.h"
#include "template/parser.h"
#include "template/value.h"

namespace tessera {
namespace {

[[noreturn]] void rethrow(const std::string& name, const tmpl::TemplateError& e) {
  if (e.has_pos()) {
    throw Error(
        fmt::format("{}: line {}, column {}: {}", name, e.pos().line, e.pos().col, e.message()));
  }
  throw Error(fmt::format("{}: {}", name, e.message()));
}

std::string strftime_at(const std::tm& tm, const std::string& format) {
  if (format.empty()) return {};
  std::string buf(format.size() * 4 + 64, '\0');
  for (int attempt = 0; attempt < 6; ++attempt) {
    size_t n = std::strftime(buf.data(), buf.size(), format.c_str(), &tm);
    if (n > 0) return buf.substr(0, n);
    buf.resize(buf.size() * 4);
  }
  return {};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TSR_CHECK_KIND(in.good(), ErrorKind::kNotFound, "cannot open chat template file '{}'", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

ChatTemplate ChatTemplate::parse(std::string source, std::string name) {
  ChatTemplate t;
  t.name_ = std::move(name);
  t.source_ = std::move(source);
  try {
    std::string normalized = tmpl::normalize_template_source(t.source_);
    auto body = tmpl::parse_template(tmpl::lex_template(normalized));
    tmpl::check_names(body);
    t.body_ = std::make_shared<const tmpl::Body>(std::move(body));
  } catch (const tmpl::TemplateError& e) {
    rethrow(t.name_, e);
  }
  return t;
}

ChatTemplate ChatTemplate::from_file(const std::string& path) {
  std::string text = read_file(path);
  if (std::filesystem::path(path).extension() == ".json") {
    nlohmann::json cfg = nlohmann::json::parse(text, nullptr, false);
    TSR_CHECK(!cfg.is_discarded(), "chat template file '{}' is not valid JSON", path);
    auto source = chat_template_from_config(cfg);
    TSR_CHECK(source.has_value(), "'{}' has no \"chat_template\"", path);
    return parse(std::move(*source), path);
  }
  return parse(std::move(text), path);
}

std::string ChatTemplate::render(const nlohmann::ordered_json& context,
                                 const ChatTemplateRenderOptions& options) const {
  return render_value(tmpl::Value::from_json(context), options);
}

std::string ChatTemplate::render(const nlohmann::json& context,
                                 const ChatTemplateRenderOptions& options) const {
  return render_value(tmpl::Value::from_json(context), options);
}

std::string ChatTemplate::render_value(const tmpl::Value& context,
                                       const ChatTemplateRenderOptions& options) const {
  TSR_CHECK(context.is_object(), "{}: the render context must be a JSON object, got {}", name_,
            context.type_name());
  tmpl::RenderEnv env;
  env.limits.max_output_bytes = options.max_output_bytes;
  // No string or list built by * or + may outgrow what the render may print: printing one
  // would fail anyway, after its repr (up to 4 bytes per character) had been built in full
  // (the chat-template fuzzer's 12-second timeout: "\x19" * 10001000 against a 64 KiB output).
  env.limits.max_value_bytes = std::min(env.limits.max_value_bytes, options.max_output_bytes);
  env.limits.max_call_depth = options.max_macro_depth;
  env.limits.max_steps = options.max_steps;
  std::optional<std::tm> fixed = options.now;
  env.strftime_now = [fixed](const std::string& format) {
    if (fixed) return strftime_at(*fixed, format);
    std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    return strftime_at(local, format);
  };
  try {
    return tmpl::render_template(*body_, context.as_object(), env);
  } catch (const tmpl::TemplateError& e) {
    rethrow(name_, e);
  }
}

const std::string& chatml_fallback_template() {
  // Kept byte-identical to tests/data/templates/chatml_fallback.jinja (a test checks it).
  static const std::string kTemplate = R"TPL({%- for message in messages %}
    {{- '<|im_start|>' + message['role'] + '\n' }}
    {%- if message['content'] is string %}
        {{- message['content'] }}
    {%- elif message['content'] is iterable %}
        {%- for part in message['content'] if part['type'] == 'text' %}
            {{- part['text'] }}
        {%- endfor %}
    {%- endif %}
    {{- '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)TPL";
  return kTemplate;
}

std::optional<std::string> chat_template_from_config(const nlohmann::json& tokenizer_config,
                                                     std::string_view name) {
  if (!tokenizer_config.is_object()) return std::nullopt;
  auto it = tokenizer_config.find("chat_template");
  if (it == tokenizer_config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    for (const auto& entry : *it) {
      if (entry.is_object() && entry.value("name", "") == name && entry.contains("template") &&
          entry["template"].is_string()) {
        return entry["template"].get<std::string>();
      }
    }
    return std::nullopt;
  }
  throw Error("tokenizer config: \"chat_template\" must be a string or a list of named templates");
}

ChatTemplate load_chat_template_arg(const std::string& arg) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(arg, ec)) return ChatTemplate::from_file(arg);
  TSR_CHECK(arg.find("{{") != std::string::npos || arg.find("{%") != std::string::npos,
            "--chat-template '{}' is neither a readable file nor a Jinja template", arg);
  return ChatTemplate::parse(arg, "--chat-template");
}

}  // namespace tessera
