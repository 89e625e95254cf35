// --config files (tools/tessera/config_file.h) through the real option tables of `serve` and
// `generate`: every option is accepted from YAML, quoting follows YAML, lists and mappings go
// where an option takes them, and mistakes are one UsageError naming the file and line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include <boost/program_options.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "command.h"
#include "common_options.h"

namespace po = boost::program_options;
using tessera::cli::UsageError;

namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("tessera-config-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / name).string();
  std::ofstream(path) << text;
  return path;
}

po::variables_map parse(const po::options_description& options, std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  return tessera::cli::parse_command_line(static_cast<int>(argv.size()), argv.data(), options);
}

po::variables_map parse_config(const po::options_description& options, const std::string& yaml,
                               std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"serve", "--config", write_temp("c.yaml", yaml)};
  args.insert(args.end(), extra.begin(), extra.end());
  return parse(options, args);
}

// A stored value as text, whatever its type ("a,b" for lists).
std::string text_of(const po::variable_value& v) {
  const boost::any& any = v.value();
  if (auto* s = boost::any_cast<std::string>(&any)) return *s;
  if (auto* i = boost::any_cast<int>(&any)) return std::to_string(*i);
  if (auto* i = boost::any_cast<int64_t>(&any)) return std::to_string(*i);
  if (auto* u = boost::any_cast<uint64_t>(&any)) return std::to_string(*u);
  if (auto* d = boost::any_cast<double>(&any)) return std::to_string(*d);
  if (auto* f = boost::any_cast<float>(&any)) return std::to_string(*f);
  if (auto* b = boost::any_cast<bool>(&any)) return *b ? "true" : "false";
  if (auto* list = boost::any_cast<std::vector<std::string>>(&any)) {
    std::string out;
    for (const auto& item : *list) out += (out.empty() ? "" : ",") + item;
    return out;
  }
  if (any.empty()) return "<switch>";
  return "<unknown type>";
}

std::string error_of(const po::options_description& options, const std::string& yaml) {
  try {
    parse_config(options, yaml);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

// Every option of `tessera serve` (server, engine and loader options) from one YAML file.
// A new option must be added here, so that it is known to work from a config file.
TEST(ConfigFile, EveryServeOptionIsAccepted) {
  // key -> {YAML value, expected stored value}
  const std::map<std::string, std::pair<std::string, std::string>> values = {
      {"host", {"0.0.0.0", "0.0.0.0"}},
      {"port", {"8123", "8123"}},
      {"api-key", {"\"abc#123\"", "abc#123"}},
      {"served-model-name", {"[a, b]", "a,b"}},
      {"chat-template", {"'{{ messages }}'", "{{ messages }}"}},
      {"default-chat-template-kwargs",
       {"{enable_thinking: false, name: \"x#1\"}", "{\"enable_thinking\":false,\"name\":\"x#1\"}"}},
      {"max-request-body", {"8MiB", "8MiB"}},
      {"default-max-tokens", {"64", "64"}},
      {"max-n", {"4", "4"}},
      {"http-threads", {"3", "3"}},
      {"keep-alive-timeout", {"12.5", std::to_string(12.5)}},
      {"shutdown-grace", {"2", std::to_string(2.0)}},
      {"model", {"some/dir", "some/dir"}},
      {"tokenizer", {"tok/dir", "tok/dir"}},
      {"dtype", {"float32", "float32"}},
      {"kv-cache-dtype", {"auto", "auto"}},
      {"quantization", {"int8", "int8"}},
      {"load-in-low-bit", {"sym_int4", "sym_int4"}},
      {"block-size", {"32", "32"}},
      {"max-num-seqs", {"17", "17"}},
      {"max-num-batched-tokens", {"4096", "4096"}},
      {"max-model-len", {"1024", "1024"}},
      {"tensor-parallel-size", {"2", "2"}},
      {"enable-prefix-caching", {"false", "false"}},
      {"no-enable-prefix-caching", {"true", ""}},  // a switch stores an empty value
      {"enable-chunked-prefill", {"no", "false"}},
      {"swap-space", {"1.5", std::to_string(1.5)}},
      {"preemption-mode", {"swap", "swap"}},
      {"scheduling-policy", {"priority", "priority"}},
      {"gpu-memory-utilization", {"0.7", std::to_string(0.7)}},
      {"kv-cache-memory", {"2GiB", "2GiB"}},
      {"num-gpu-blocks-override", {"99", "99"}},
      {"max-logprobs", {"5", "5"}},
      {"enforce-eager", {"true", "true"}},
      {"enable-cuda-graph", {"false", "false"}},
      {"scheduler-delay-factor", {"0.5", std::to_string(0.5)}},
      {"trust-remote-code", {"true", ""}},
      {"reasoning-parser", {"deepseek_r1", "deepseek_r1"}},
      {"enable-reasoning", {"true", ""}},
      {"enable-auto-tool-choice", {"true", ""}},
      {"tool-call-parser", {"llama3_json", "llama3_json"}},
      {"seed", {"42", "42"}},
      {"device", {"cpu", "cpu"}},
      {"plugin-dir", {"[d1, d2]", "d1,d2"}},
      {"plugin-option", {"['cpu.num_threads=2']", "cpu.num_threads=2"}},
      {"log-level", {"warn", "warn"}},
  };
  const auto options = tessera::cli::serve_options();
  std::set<std::string> names;
  for (const auto& option : options.options()) {
    if (option->long_name() != "help" && option->long_name() != "config") {
      names.insert(option->long_name());
    }
  }
  std::set<std::string> covered;
  for (const auto& [name, value] : values) covered.insert(name);
  EXPECT_EQ(names, covered) << "the test's table and serve's options differ";

  std::string yaml;
  bool underscores = false;
  for (const auto& [name, value] : values) {
    std::string key = name;
    // Every other key spelled with underscores, as vLLM's YAML files do.
    if (underscores) std::replace(key.begin(), key.end(), '-', '_');
    underscores = !underscores;
    yaml += key + ": " + value.first + "\n";
  }
  const auto vm = parse_config(options, yaml);
  for (const auto& [name, value] : values) {
    ASSERT_TRUE(vm.count(name)) << name;
    EXPECT_FALSE(vm[name].defaulted()) << name;
    EXPECT_EQ(text_of(vm[name]), value.second) << name;
  }
}

TEST(ConfigFile, QuotingAndCommentsFollowYaml) {
  const auto options = tessera::cli::serve_options();
  const auto vm = parse_config(options,
                               "# a comment line\n"
                               "api-key: \"abc#123\"   # the '#' inside quotes is kept\n"
                               "host: '127.0.0.1'\n"
                               "chat-template: \"line1\\nline2\"\n"
                               "max-num-seqs: 8 # a trailing comment\n");
  EXPECT_EQ(vm["api-key"].as<std::string>(), "abc#123");
  EXPECT_EQ(vm["host"].as<std::string>(), "127.0.0.1");
  EXPECT_EQ(vm["chat-template"].as<std::string>(), "line1\nline2");
  EXPECT_EQ(vm["max-num-seqs"].as<int>(), 8);
}

TEST(ConfigFile, ListsWhereOptionsTakeThem) {
  const auto generate = tessera::cli::generate_options();
  auto vm = parse_config(generate,
                         "prompt: hi\n"
                         "stop:\n"
                         "  - \"###\"\n"
                         "  - \"\\n\\n\"\n");
  EXPECT_EQ(vm["stop"].as<std::vector<std::string>>(), (std::vector<std::string>{"###", "\n\n"}));
  // A single value for a list option is a list of one.
  vm = parse_config(generate, "stop: END\n");
  EXPECT_EQ(vm["stop"].as<std::vector<std::string>>(), std::vector<std::string>{"END"});
}

TEST(ConfigFile, CommandLineWinsOverTheFile) {
  const auto options = tessera::cli::serve_options();
  const auto vm = parse_config(options, "max-num-seqs: 8\nport: 9000\n", {"--max-num-seqs", "3"});
  EXPECT_EQ(vm["max-num-seqs"].as<int>(), 3);
  EXPECT_EQ(vm["port"].as<int>(), 9000);
}

TEST(ConfigFile, UnknownKeyNamesTheLineAndSuggests) {
  const auto options = tessera::cli::serve_options();
  const auto error = error_of(options, "port: 9000\nmax_num_seq: 8\n");
  EXPECT_NE(error.find("c.yaml:2: unknown option 'max_num_seq'"), std::string::npos) << error;
  EXPECT_NE(error.find("did you mean 'max-num-seqs'"), std::string::npos) << error;
  EXPECT_NE(error_of(options, "config: other.yaml\n").find("c.yaml:1: unknown option 'config'"),
            std::string::npos);
  // `stop` belongs to generate, not serve.
  EXPECT_NE(error_of(options, "stop: x\n").find("unknown option 'stop'"), std::string::npos);
}

TEST(ConfigFile, WrongTypesNameTheLine) {
  const auto options = tessera::cli::serve_options();
  std::string error = error_of(options, "host: a\nmax-num-seqs: many\n");
  EXPECT_NE(error.find("c.yaml:2:"), std::string::npos) << error;
  EXPECT_NE(error.find("max-num-seqs"), std::string::npos) << error;
  error = error_of(options, "port: [1, 2]\n");
  EXPECT_NE(error.find("c.yaml:1: 'port' takes a single value, not a list"), std::string::npos)
      << error;
  error = error_of(options, "port: {a: 1}\n");
  EXPECT_NE(error.find("not a mapping"), std::string::npos) << error;
  error = error_of(options, "\n\nno-enable-prefix-caching: maybe\n");
  EXPECT_NE(error.find("c.yaml:3: 'no-enable-prefix-caching' is a switch"), std::string::npos)
      << error;
  error = error_of(options, "enable-prefix-caching: perhaps\n");
  EXPECT_NE(error.find("c.yaml:1:"), std::string::npos) << error;
  error = error_of(options, "port:\n");
  EXPECT_NE(error.find("c.yaml:1: 'port' has no value"), std::string::npos) << error;
  error = error_of(options, "port: 1\nport: 2\n");
  EXPECT_NE(error.find("c.yaml:2: 'port' is given twice"), std::string::npos) << error;
}

TEST(ConfigFile, YamlSyntaxErrorsAndBadFiles) {
  const auto options = tessera::cli::serve_options();
  std::string error = error_of(options, "port: 1\nhost: [a, b\n");
  EXPECT_NE(error.find("invalid YAML"), std::string::npos) << error;
  error = error_of(options, "- a\n- b\n");
  EXPECT_NE(error.find("mapping"), std::string::npos) << error;
  EXPECT_THROW(parse(options, {"serve", "--config", "/nonexistent/tessera.yaml"}), UsageError);
  // An empty file sets nothing.
  const auto vm = parse_config(options, "# nothing\n");
  EXPECT_TRUE(vm["max-num-seqs"].defaulted());
}
