// The real `tessera diagnose` executable: on fixture roots (flag and environment), the JSON
// shape on stdout, the exit-code rule, usage errors, and one run on this very machine, which
// must exit 0 or 1 and print nothing but the report on stdout.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "diag_test_util.h"

namespace {

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `env tessera diagnose args`, capturing stdout and stderr separately.
Result run_diagnose(const std::string& args, const std::string& env = {}) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string tag = std::to_string(::getpid());
  const auto out = dir / ("tessera-diag-cli-" + tag + ".out");
  const auto err = dir / ("tessera-diag-cli-" + tag + ".err");
  const std::string cmd = env + " '" + std::string(TESSERA_CLI) + "' diagnose " + args + " >'" +
                          out.string() + "' 2>'" + err.string() + "' </dev/null";
  const int status = std::system(cmd.c_str());
  Result r;
  if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.out = slurp(out);
  r.err = slurp(err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return r;
}

const nlohmann::json* find(const nlohmann::json& items, const std::string& key) {
  for (const auto& item : items) {
    if (item["key"] == key) return &item;
  }
  return nullptr;
}

void expect_item_shape(const nlohmann::json& items) {
  ASSERT_TRUE(items.is_array());
  ASSERT_FALSE(items.empty());
  for (const auto& item : items) {
    for (const char* field : {"key", "value", "unit", "status", "source", "hint", "section"}) {
      ASSERT_TRUE(item.contains(field) && item[field].is_string()) << field << " in " << item;
    }
    const std::string status = item["status"];
    EXPECT_TRUE(status == "ok" || status == "warn" || status == "fail" || status == "unknown" ||
                status == "needs_root")
        << status;
  }
}

TEST(DiagnoseCli, HealthyFixtureTableExitsZero) {
  const auto r =
      run_diagnose("--no-plugins --root '" + tessera::diag::testing::fixture("healthy") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* section : {"== host ==", "== cpu ==", "== memory ==", "== pci =="}) {
    EXPECT_NE(r.out.find(section), std::string::npos) << section;
  }
  EXPECT_NE(r.out.find("pci.0.rebar.enabled"), std::string::npos);
  EXPECT_EQ(r.out.find("cpu.cpufreq.policy0"), std::string::npos);  // detail hidden
  EXPECT_EQ(r.out.find("== plugins =="), std::string::npos);
  const auto verbose =
      run_diagnose("--no-plugins -v --root '" + tessera::diag::testing::fixture("healthy") + "'");
  EXPECT_NE(verbose.out.find("cpu.cpufreq.policy0.governor"), std::string::npos);
}

TEST(DiagnoseCli, DegradedFixtureJsonExitsOne) {
  const auto r = run_diagnose("--no-plugins --json --root '" +
                              tessera::diag::testing::fixture("degraded") + "'");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto items = nlohmann::json::parse(r.out);  // stdout is nothing but the JSON
  expect_item_shape(items);
  const auto* governor = find(items, "cpu.governor");
  ASSERT_NE(governor, nullptr);
  EXPECT_EQ((*governor)["status"], "warn");
  EXPECT_EQ((*governor)["section"], "cpu");
  EXPECT_NE((*governor)["hint"].get<std::string>().find("cpupower"), std::string::npos);
  const auto* driver = find(items, "pci.1.driver");
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ((*driver)["status"], "fail");
  EXPECT_NE(find(items, "cpu.cpufreq.policy1.freq.max"), nullptr);  // detail items in JSON
}

TEST(DiagnoseCli, EnvironmentRootAndFlagPrecedence) {
  const std::string env = "TESSERA_DIAG_ROOT='" + tessera::diag::testing::fixture("vm") + "'";
  auto r = run_diagnose("--no-plugins --json", env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto items = nlohmann::json::parse(r.out);
  ASSERT_NE(find(items, "host.os"), nullptr);
  EXPECT_EQ((*find(items, "host.os"))["value"], "Ubuntu 24.04.1 LTS");
  r = run_diagnose(
      "--no-plugins --json --root '" + tessera::diag::testing::fixture("healthy") + "'", env);
  items = nlohmann::json::parse(r.out);
  EXPECT_EQ((*find(items, "host.os"))["value"], "Debian GNU/Linux 12 (bookworm)");
}

TEST(DiagnoseCli, UsageErrors) {
  auto r = run_diagnose("--no-such-flag");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("tessera: error:"), std::string::npos) << r.err;
  r = run_diagnose("--root");
  EXPECT_EQ(r.exit_code, 2);
  r = run_diagnose("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--no-plugins"), std::string::npos);
}

TEST(DiagnoseCli, UnknownDevicePluginFails) {
  const auto r = run_diagnose("--json --device no_such_plugin --root '" +
                              tessera::diag::testing::fixture("healthy") + "'");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto items = nlohmann::json::parse(r.out);
  const auto* item = find(items, "plugins.no_such_plugin");
  ASSERT_NE(item, nullptr);
  EXPECT_EQ((*item)["status"], "fail");
}

// This machine, with whatever plugins the build produced (TESSERA_PLUGIN_PATH is set by the
// test harness). The verdicts depend on the machine; the contract does not.
TEST(DiagnoseCli, RealMachine) {
  const auto json = run_diagnose("--json");
  EXPECT_TRUE(json.exit_code == 0 || json.exit_code == 1) << json.exit_code << "\n" << json.err;
  const auto items = nlohmann::json::parse(json.out);
  expect_item_shape(items);
  EXPECT_NE(find(items, "host.kernel"), nullptr);
  EXPECT_NE(find(items, "plugins.loaded"), nullptr);
  bool failed = false;
  for (const auto& item : items) failed = failed || item["status"] == "fail";
  EXPECT_EQ(json.exit_code, failed ? 1 : 0);

  const auto table = run_diagnose("");
  EXPECT_EQ(table.exit_code, json.exit_code) << table.err;
  EXPECT_NE(table.out.find("== host =="), std::string::npos);
  EXPECT_NE(table.out.find("== plugins =="), std::string::npos);
  EXPECT_EQ(table.out.find('\033'), std::string::npos);  // not a terminal: no colour codes
}

}  // namespace
