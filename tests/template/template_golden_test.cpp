// Golden tests of the chat-template interpreter: every rendering in
// tests/data/templates/goldens.json (made by scripts/gen_template_goldens.py with jinja2 set up
// as Hugging Face renders chat templates) must come out byte for byte, and every case where
// jinja2 fails must fail here too, with raise_exception's message intact.
#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

#include "common/check.h"
#include "tessera/chat_template.h"

namespace tessera {
namespace {

using nlohmann::ordered_json;

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string data_path(const std::string& name) {
  return std::string(TESSERA_TEST_DATA_DIR) + "/templates/" + name;
}

const ordered_json& goldens() {
  static const ordered_json kGoldens = ordered_json::parse(read(data_path("goldens.json")));
  return kGoldens;
}

ChatTemplateRenderOptions fixed_clock() {
  const auto& now = goldens()["now"];
  std::tm tm{};
  tm.tm_year = now["year"].get<int>() - 1900;
  tm.tm_mon = now["month"].get<int>() - 1;
  tm.tm_mday = now["day"].get<int>();
  tm.tm_hour = now["hour"].get<int>();
  tm.tm_min = now["minute"].get<int>();
  tm.tm_sec = now["second"].get<int>();
  std::time_t t = timegm(&tm);  // fills in the weekday and day of year
  gmtime_r(&t, &tm);
  ChatTemplateRenderOptions options;
  options.now = tm;
  return options;
}

// Checks one golden case against a parsed template (or the parse failure it produced).
void check_case(const ordered_json& c, const ChatTemplate* tmpl, const std::string& parse_error,
                const ChatTemplateRenderOptions& options, int& checked) {
  const std::string name = c["name"].get<std::string>();
  if (c.contains("expected")) {
    ASSERT_NE(tmpl, nullptr) << name << ": parse failed: " << parse_error;
    std::string got;
    try {
      got = tmpl->render(c["context"], options);
    } catch (const Error& e) {
      ADD_FAILURE() << name << ": render threw: " << e.what();
      return;
    }
    EXPECT_EQ(got, c["expected"].get<std::string>()) << "case " << name;
    ++checked;
    return;
  }
  const std::string want = c["error"].get<std::string>();
  const std::string type = c["error_type"].get<std::string>();
  const bool jinja_parse_error = c["phase"] == "parse";
  std::string message = parse_error;
  if (tmpl) {
    EXPECT_FALSE(jinja_parse_error)
        << name << ": jinja2 rejects this template (" << want << ") but it parsed";
    try {
      std::string out = tmpl->render(c["context"], options);
      ADD_FAILURE() << name << ": expected an error like '" << want << "', got output: " << out;
      return;
    } catch (const Error& e) {
      message = e.what();
    }
  }
  // raise_exception messages reach the user verbatim.
  if (type == "TemplateError") {
    EXPECT_NE(message.find(want), std::string::npos) << name << ": " << message;
  }
  EXPECT_NE(message.find("line "), std::string::npos) << name << ": no position in: " << message;
  ++checked;
}

TEST(ChatTemplateGolden, ConversationsMatchJinja2) {
  const auto options = fixed_clock();
  std::map<std::string, ChatTemplate> templates;
  for (const auto& [name, file] : goldens()["templates"].items()) {
    templates.emplace(name, ChatTemplate::parse(read(data_path(file.get<std::string>())), file));
  }
  int checked = 0;
  for (const auto& c : goldens()["cases"]) {
    const ChatTemplate& t = templates.at(c["template"].get<std::string>());
    check_case(c, &t, "", options, checked);
  }
  EXPECT_EQ(checked, static_cast<int>(goldens()["cases"].size()));
  EXPECT_GT(checked, 300);
}

TEST(ChatTemplateGolden, FeatureSnippetsMatchJinja2) {
  const auto options = fixed_clock();
  int checked = 0;
  for (const auto& c : goldens()["snippets"]) {
    std::optional<ChatTemplate> t;
    std::string parse_error;
    try {
      t = ChatTemplate::parse(c["source"].get<std::string>(), c["name"].get<std::string>());
    } catch (const Error& e) {
      parse_error = e.what();
    }
    check_case(c, t ? &*t : nullptr, parse_error, options, checked);
  }
  EXPECT_EQ(checked, static_cast<int>(goldens()["snippets"].size()));
}

}  // namespace
}  // namespace tessera
