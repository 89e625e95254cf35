// Report formatting: JSON shape, table layout and the exit-code rule.
#include "tessera/diagnostics.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "diag/diag_item.h"

namespace tessera::diag {
namespace {

std::vector<DiagSection> sample() {
  DiagItem ok{"cpu.governor", "performance", "", DiagStatus::kOk, "sysfs", "", false};
  DiagItem warn{"pci.0.link.gen.current", "1",  "", DiagStatus::kWarn, "sysfs",
                "check under load",       false};
  DiagItem detail{
      "cpu.cpufreq.policy0.freq.max", "4800", "MHz", DiagStatus::kOk, "sysfs", "", true};
  DiagItem root{"pci.0.rebar.bar_size",
                "permission denied",
                "",
                DiagStatus::kNeedsRoot,
                "sysfs",
                "run with sudo",
                false};
  return {{"cpu", {ok, detail}}, {"pci", {warn, root}}, {"plugin cuda", {}}};
}

TEST(DiagReport, JsonShape) {
  const auto json = nlohmann::json::parse(format_json(sample()));
  ASSERT_TRUE(json.is_array());
  ASSERT_EQ(json.size(), 4u);  // detail items included
  for (const auto& item : json) {
    for (const char* field : {"section", "key", "value", "unit", "status", "source", "hint"}) {
      ASSERT_TRUE(item.contains(field)) << field;
      EXPECT_TRUE(item[field].is_string()) << field;
    }
  }
  EXPECT_EQ(json[0]["section"], "cpu");
  EXPECT_EQ(json[0]["key"], "cpu.governor");
  EXPECT_EQ(json[0]["status"], "ok");
  EXPECT_EQ(json[1]["unit"], "MHz");
  EXPECT_EQ(json[2]["status"], "warn");
  EXPECT_EQ(json[2]["hint"], "check under load");
  EXPECT_EQ(json[3]["status"], "needs_root");
}

TEST(DiagReport, JsonSurvivesBadUtf8) {
  DiagItem bad{"x", std::string("\xff\xfe", 2), "", DiagStatus::kOk, "p", "", false};
  const auto json = nlohmann::json::parse(format_json({{"plugin p", {bad}}}));
  EXPECT_EQ(json.size(), 1u);
}

TEST(DiagReport, TableGroupsBySectionAndHidesDetail) {
  const std::string table = format_table(sample(), {});
  EXPECT_NE(table.find("== cpu =="), std::string::npos);
  EXPECT_NE(table.find("== pci =="), std::string::npos);
  EXPECT_NE(table.find("== plugin cuda =="), std::string::npos);
  EXPECT_LT(table.find("== cpu =="), table.find("== pci =="));
  EXPECT_NE(table.find("WARN"), std::string::npos);
  EXPECT_NE(table.find("NEEDS_ROOT"), std::string::npos);
  EXPECT_NE(table.find("-> check under load"), std::string::npos);
  EXPECT_EQ(table.find("policy0"), std::string::npos);
  EXPECT_NE(table.find("2 ok, 1 warn, 0 fail, 0 unknown, 1 needs root"), std::string::npos)
      << table;
  EXPECT_EQ(table.find('\033'), std::string::npos);  // no colour unless asked
  const std::string verbose = format_table(sample(), {.verbose = true});
  EXPECT_NE(verbose.find("cpu.cpufreq.policy0.freq.max"), std::string::npos);
  EXPECT_NE(verbose.find("4800 MHz"), std::string::npos);
}

TEST(DiagReport, ExitCodeRule) {
  auto sections = sample();
  EXPECT_EQ(exit_code_for(sections), 0);  // warn and needs_root do not fail
  sections[2].items.push_back({"gpu.0.ecc", "errors", "", DiagStatus::kFail, "nvml", "", false});
  EXPECT_EQ(exit_code_for(sections), 1);
  EXPECT_EQ(exit_code_for({}), 0);
}

TEST(DiagReport, StatusNames) {
  EXPECT_EQ(status_name(DiagStatus::kNeedsRoot), "needs_root");
  EXPECT_EQ(status_from_c(TSR_DIAG_STATUS_FAIL), DiagStatus::kFail);
  EXPECT_EQ(status_from_c(99), DiagStatus::kUnknown);
  EXPECT_EQ(status_from_c(-1), DiagStatus::kUnknown);
  EXPECT_EQ(worst(DiagStatus::kWarn, DiagStatus::kFail), DiagStatus::kFail);
  EXPECT_EQ(worst(DiagStatus::kOk, DiagStatus::kNeedsRoot), DiagStatus::kNeedsRoot);
}

}  // namespace
}  // namespace tessera::diag
